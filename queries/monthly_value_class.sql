-- Building block monthly_value_class: one row per customer in scope and
-- calendar month M (from the month before $start's month to $end's month)
-- with revenue in the trailing 3 months (M-2 to M, customer_month).
-- value_class 'A' (high value) when the customer is among the smallest set of
-- top customers that together make 80% of that trailing revenue (the value
-- grid's Pareto rule, ties broken by customer key), 'B' (low value) otherwise;
-- a customer without trailing revenue has no row and counts as low value.
-- Parameters: $start, $end.
with months as (
    select cast(month_start as date) as month
    from generate_series(
        cast(date_trunc('month', cast($start as date)) as timestamp) - interval 1 month,
        cast(date_trunc('month', cast($end as date)) as timestamp),
        interval 1 month
    ) as series(month_start)
),

customer_revenue as (
    select customer_month.customer_key, customer_month.month, customer_month.revenue
    from customer_month
    inner join scoped_customers on scoped_customers.customer_key = customer_month.customer_key
    where
        customer_month.month
        between cast(date_trunc('month', cast($start as date)) as date) - interval 3 month and $end
),

trailing_totals as (
    select customer_revenue.customer_key, months.month, sum(customer_revenue.revenue) as trailing_revenue
    from customer_revenue
    inner join months
        on months.month >= customer_revenue.month
        and months.month <= customer_revenue.month + interval 2 month
    group by customer_revenue.customer_key, months.month
    having sum(customer_revenue.revenue) > 0
),

ranked as (
    select
        customer_key,
        month,
        trailing_revenue,
        sum(trailing_revenue) over (
            partition by month order by trailing_revenue desc, customer_key
            rows between unbounded preceding and 1 preceding
        ) as revenue_ranked_above,
        sum(trailing_revenue) over (partition by month) as month_revenue
    from trailing_totals
)

select
    customer_key,
    month,
    trailing_revenue,
    case when coalesce(revenue_ranked_above, 0) < 0.8 * month_revenue then 'A' else 'B' end as value_class
from ranked
