-- One row: sales of the customers in scope over [$start, $end] (inclusive):
-- revenue (net of returns), gross profit where known, buying customers,
-- orders, and buyers with two or more orders in the period.
-- Parameters: $start, $end.
with customer_totals as (
    select
        customer_days.customer_id,
        sum(customer_days.revenue) as revenue,
        sum(customer_days.profit) as profit,
        sum(customer_days.lines_with_profit) as lines_with_profit,
        sum(customer_days.lines) as lines,
        sum(customer_days.orders) as orders,
        max(case when customer_days.is_purchase then 1 else 0 end) as bought
    from customer_days
    inner join scoped_customers on scoped_customers.customer_key = customer_days.customer_key
    where customer_days.day between $start and $end
    group by customer_days.customer_id
)

select
    coalesce(sum(revenue), 0) as revenue,
    sum(profit) as profit,
    coalesce(sum(lines_with_profit), 0) as lines_with_profit,
    coalesce(sum(lines), 0) as lines,
    coalesce(sum(orders), 0) as orders,
    coalesce(sum(bought), 0) as buyers,
    coalesce(sum(case when bought = 1 and orders >= 2 then 1 else 0 end), 0) as repeat_buyers
from customer_totals
