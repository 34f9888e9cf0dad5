-- One row per calendar month M from $start's month to $end's month: value
-- churn, the telecom study's second meaning of churn. high_value_before =
-- customers in scope who were high value ('A', see monthly_value_class.sql)
-- in month M-1; slid = those of them who are low value in M yet still active
-- at M's end (activity rule with W); revenue_before / revenue_now = the slid
-- customers' trailing 3-month revenue in M-1 (the revenue at stake) and in M.
-- Parameters: $start, $end, $window_days (W), $as_of.
-- requires: monthly_value_class, month_end_activity
with months as (
    select cast(month_start as date) as month
    from generate_series(
        cast(date_trunc('month', cast($start as date)) as timestamp),
        cast(date_trunc('month', cast($end as date)) as timestamp),
        interval 1 month
    ) as series(month_start)
),

transitions as (
    select
        cast(earlier.month + interval 1 month as date) as month,
        earlier.customer_key,
        earlier.trailing_revenue as revenue_before,
        coalesce(later.trailing_revenue, 0) as revenue_now,
        coalesce(later.value_class, 'B') = 'B' and month_end_activity.customer_key is not null as slid
    from monthly_value_class as earlier
    left join monthly_value_class as later
        on later.customer_key = earlier.customer_key and later.month = earlier.month + interval 1 month
    left join month_end_activity
        on month_end_activity.customer_key = earlier.customer_key
        and month_end_activity.month = earlier.month + interval 1 month
    where earlier.value_class = 'A'
)

select
    months.month,
    count(transitions.customer_key) as high_value_before,
    coalesce(sum(case when transitions.slid then 1 else 0 end), 0) as slid,
    coalesce(sum(case when transitions.slid then transitions.revenue_before else 0 end), 0) as revenue_before,
    coalesce(sum(case when transitions.slid then transitions.revenue_now else 0 end), 0) as revenue_now
from months
left join transitions on transitions.month = months.month
group by months.month
order by months.month
