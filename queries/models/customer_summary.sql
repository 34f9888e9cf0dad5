-- Model customer_summary: one row per customer (every id in customer_dim) with
-- attributes and all-time purchase figures. The scoped_customers table each
-- query joins is a filtered copy of this. repeat_purchase_revenue (net revenue
-- of the purchase days after the first: those with an earlier purchase day)
-- gives the lifetime-value summary of the whole history (clv_summary.sql)
-- without reading the day rows.
-- Parameters: none. Depends on customer_dim and customer_days.
with purchase_totals as (
    select
        customer_id,
        min(case when is_purchase then day end) as first_purchase_date,
        max(case when is_purchase then day end) as last_purchase_date,
        sum(case when is_purchase then 1 else 0 end) as purchase_days,
        sum(orders) as orders,
        sum(revenue) as revenue,
        sum(case when is_purchase and prev_purchase_date is not null then revenue end) as repeat_purchase_revenue,
        sum(profit) as profit,
        sum(lines_with_profit) as lines_with_profit
    from customer_days
    group by customer_id
)

select
    customer_dim.*,
    purchase_totals.first_purchase_date,
    purchase_totals.last_purchase_date,
    coalesce(purchase_totals.purchase_days, 0) as purchase_days,
    coalesce(purchase_totals.orders, 0) as orders,
    coalesce(purchase_totals.revenue, 0) as revenue,
    coalesce(purchase_totals.repeat_purchase_revenue, 0) as repeat_purchase_revenue,
    purchase_totals.profit,
    coalesce(purchase_totals.lines_with_profit, 0) as lines_with_profit
from customer_dim
left join purchase_totals on purchase_totals.customer_id = customer_dim.customer_id
