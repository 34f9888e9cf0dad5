-- One row per calendar month M (from $start's month to $end's month), customer
-- type, region and value class: revenue retention over 12 months. The base is
-- every customer in scope with revenue in the 12 months before the last 12
-- (months M-23 to M-12); base_revenue is what they brought then,
-- current_revenue what the same customers brought in the 12 months ending
-- with M (M-11 to M), retained_revenue the sum over them of
-- least(current, base): so NRR = current / base and GRR = retained / base.
-- value_class: 'A' when the customer is among the smallest set of top base
-- customers that make 80% of the month's base revenue (the Pareto rule of the
-- value grid, ties broken by customer key), otherwise 'B'.
-- Reads customer_month from M-23 for the first month only.
-- Parameters: $start, $end.
with months as (
    select cast(month_start as date) as month
    from generate_series(
        cast(date_trunc('month', cast($start as date)) as timestamp),
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
        between cast(date_trunc('month', cast($start as date)) as date) - interval 23 month and $end
),

-- Each customer month counts towards the current window of the 12 months
-- M = month .. month + 11 and towards the base window of the next 12.
windows as (
    select
        customer_revenue.customer_key,
        months.month,
        sum(case when months.month <= customer_revenue.month + interval 11 month
            then customer_revenue.revenue else 0 end) as current_revenue,
        sum(case when months.month > customer_revenue.month + interval 11 month
            then customer_revenue.revenue else 0 end) as base_revenue
    from customer_revenue
    inner join months
        on months.month >= customer_revenue.month
        and months.month <= customer_revenue.month + interval 23 month
    group by customer_revenue.customer_key, months.month
),

base_customers as (
    select
        customer_key,
        month,
        base_revenue,
        greatest(current_revenue, 0) as current_revenue,
        sum(base_revenue) over (
            partition by month order by base_revenue desc, customer_key
            rows between unbounded preceding and 1 preceding
        ) as revenue_ranked_above,
        sum(base_revenue) over (partition by month) as month_base_revenue
    from windows
    where base_revenue > 0
)

select
    base_customers.month,
    coalesce(scoped_customers.customer_type, '(unknown)') as customer_type,
    coalesce(scoped_customers.region, '(unknown)') as region,
    case when coalesce(base_customers.revenue_ranked_above, 0) < 0.8 * base_customers.month_base_revenue
        then 'A' else 'B' end as value_class,
    count(*) as base_customers,
    sum(case when base_customers.current_revenue > 0 then 1 else 0 end) as retained_customers,
    sum(base_customers.base_revenue) as base_revenue,
    sum(base_customers.current_revenue) as current_revenue,
    sum(least(base_customers.current_revenue, base_customers.base_revenue)) as retained_revenue
from base_customers
inner join scoped_customers on scoped_customers.customer_key = base_customers.customer_key
group by all
order by base_customers.month, customer_type, region, value_class
