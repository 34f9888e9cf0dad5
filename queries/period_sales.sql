-- One row: sales of the customers in scope over [$start, $end] (inclusive):
-- revenue (net of returns), gross profit where known, buying customers,
-- orders, and buyers with two or more orders in the period.
-- Written so that only the repeat-buyer count groups by customer (on the
-- integer key): sums are taken over the day rows directly, and a buyer is
-- counted on their first purchase day in the period, the one whose previous
-- purchase (prev_purchase_date, precomputed in customer_days) is before $start.
-- Parameters: $start, $end, $all_customers (true when no filter or scope leaves
-- anyone out: the scoped_customers join is skipped).
with scoped_days as (
    select customer_key, revenue, profit, lines_with_profit, lines, orders, is_purchase, prev_purchase_date
    from customer_days
    where
        day between $start and $end
        and (customer_key in (select customer_key from scoped_customers where not $all_customers) or $all_customers)
),

repeat_buyers as (
    select customer_key
    from scoped_days
    group by customer_key
    having bool_or(is_purchase) and sum(orders) >= 2
)

select
    coalesce(sum(revenue), 0) as revenue,
    sum(profit) as profit,
    coalesce(sum(lines_with_profit), 0) as lines_with_profit,
    coalesce(sum(lines), 0) as lines,
    coalesce(sum(orders), 0) as orders,
    coalesce(sum(case
        when is_purchase and (prev_purchase_date is null or prev_purchase_date < $start) then 1 else 0 end), 0)
        as buyers,
    (select count(*) from repeat_buyers) as repeat_buyers
from scoped_days
