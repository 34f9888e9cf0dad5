-- Model customer_month: one row per customer and calendar month with any
-- transaction line: revenue, profit, orders and purchase days of that month.
-- Monthly trends and revenue movements read this.
-- Parameters: none. Depends on customer_days.
select
    customer_key,
    customer_id,
    cast(date_trunc('month', day) as date) as month,
    sum(revenue) as revenue,
    sum(profit) as profit,
    sum(lines_with_profit) as lines_with_profit,
    sum(orders) as orders,
    sum(case when is_purchase then 1 else 0 end) as purchase_days,
    sum(cancelled_revenue) as cancelled_revenue
from customer_days
group by customer_key, customer_id, cast(date_trunc('month', day) as date)
order by month, customer_key
