-- One row per customer in scope who slid from high value ('A') in the month
-- before $month to low value in $month while still active at $month's end
-- (value churn, see value_churn.sql), by the revenue at stake (their trailing
-- 3-month revenue while high value), largest first; revenue_drop = the fall.
-- Parameters: $start, $end, $window_days (W), $as_of, $month (first day of a
-- month between $start's month and $end's month).
-- requires: monthly_value_class, month_end_activity
select
    scoped_customers.customer_id,
    scoped_customers.name,
    coalesce(scoped_customers.customer_type, '(unknown)') as customer_type,
    coalesce(scoped_customers.region, '(unknown)') as region,
    coalesce(scoped_customers.sales_rep, '(unknown)') as sales_rep,
    coalesce(later.trailing_revenue, 0) as revenue_now,
    earlier.trailing_revenue as revenue_at_stake,
    earlier.trailing_revenue - coalesce(later.trailing_revenue, 0) as revenue_drop
from monthly_value_class as earlier
inner join month_end_activity
    on month_end_activity.customer_key = earlier.customer_key
    and month_end_activity.month = cast($month as date)
inner join scoped_customers on scoped_customers.customer_key = earlier.customer_key
left join monthly_value_class as later
    on later.customer_key = earlier.customer_key and later.month = cast($month as date)
where
    earlier.month = cast($month as date) - interval 1 month
    and earlier.value_class = 'A'
    and coalesce(later.value_class, 'B') = 'B'
order by revenue_at_stake desc, scoped_customers.customer_id
