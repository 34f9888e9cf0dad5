-- One row per acquisition cohort and month since acquisition: the customers in
-- scope whose first purchase ever fell in a month of [$start's month, $end]
-- (the cohort), followed month by month up to $end's month. cohort_size is
-- the cohort's customers; active those active at the month's end (activity
-- rule with W, see month_end_activity.sql); revenue the cohort's revenue in
-- the month (customer_month), months_since 0 = the acquisition month.
-- Parameters: $start, $end, $window_days (W), $as_of.
-- requires: month_end_activity
with cohort_customers as (
    select
        customer_key,
        cast(date_trunc('month', first_purchase_date) as date) as cohort_month
    from scoped_customers
    where
        first_purchase_date between cast(date_trunc('month', cast($start as date)) as date) and $end
        and first_purchase_date <= $as_of
),

cohorts as (
    select cohort_month, count(*) as cohort_size
    from cohort_customers
    group by cohort_month
),

months as (
    select cast(month_start as date) as month
    from generate_series(
        cast(date_trunc('month', cast($start as date)) as timestamp),
        cast(date_trunc('month', cast($end as date)) as timestamp),
        interval 1 month
    ) as series(month_start)
),

cohort_activity as (
    select cohort_customers.cohort_month, month_end_activity.month, count(*) as active
    from month_end_activity
    inner join cohort_customers on cohort_customers.customer_key = month_end_activity.customer_key
    group by cohort_customers.cohort_month, month_end_activity.month
),

cohort_revenue as (
    select cohort_customers.cohort_month, customer_month.month, sum(customer_month.revenue) as revenue
    from customer_month
    inner join cohort_customers on cohort_customers.customer_key = customer_month.customer_key
    where customer_month.month between cast(date_trunc('month', cast($start as date)) as date) and $end
    group by cohort_customers.cohort_month, customer_month.month
)

select
    cohorts.cohort_month,
    months.month,
    -- datediff counts month boundaries crossed (DuckDB; Spark: months_between).
    datediff('month', cohorts.cohort_month, months.month) as months_since,
    cohorts.cohort_size,
    coalesce(cohort_activity.active, 0) as active,
    coalesce(cohort_revenue.revenue, 0) as revenue
from cohorts
inner join months on months.month >= cohorts.cohort_month
left join cohort_activity
    on cohort_activity.cohort_month = cohorts.cohort_month and cohort_activity.month = months.month
left join cohort_revenue
    on cohort_revenue.cohort_month = cohorts.cohort_month and cohort_revenue.month = months.month
order by cohorts.cohort_month, months.month
