-- Building block month_end_activity: one row per customer in scope and calendar
-- month from $start's month to $end's month in which the customer is active on
-- the month's observation day (its last day, or $end / $as_of when earlier).
-- Same activity rule as spell_events.sql / monthly_movements.sql: active on day
-- d iff a purchase fell in (d - W, d] and churn_date (if any) is after d;
-- purchases on or after churn_date do not count. Each month is claimed by the
-- customer's last purchase on or before its observation day (the next purchase
-- is later), so a customer appears at most once per month.
-- Reads only purchase days from $start's month - W to $end.
-- Parameters: $start, $end, $window_days (W), $as_of, $all_customers (set by
-- query.py).
with months as (
    select
        cast(month_start as date) as month,
        -- The month's last day: first of the next month minus one day (DuckDB date arithmetic).
        least(cast(month_start + interval 1 month as date) - 1, cast($end as date), cast($as_of as date))
            as observed_on
    from generate_series(
        cast(date_trunc('month', cast($start as date)) as timestamp),
        cast(date_trunc('month', cast($end as date)) as timestamp),
        interval 1 month
    ) as series(month_start)
),

purchase_days as (
    select
        customer_days.customer_key,
        customer_days.day,
        customer_days.next_purchase_date,
        case
            when customer_days.churn_date is not null
                and customer_days.churn_date <= customer_days.day + cast($window_days as integer)
                then customer_days.churn_date
            else customer_days.day + cast($window_days as integer)
        end as lapse_date
    from customer_days
    where
        -- Nobody is filtered out when $all_customers: the scope subquery is skipped (DuckDB folds the
        -- constant); a join to every customer took three times as long as the rest of the query.
        (customer_days.customer_key in (
            select scoped_customers.customer_key from scoped_customers where not $all_customers
        ) or $all_customers)
        and customer_days.is_purchase
        and customer_days.day
        between cast(date_trunc('month', cast($start as date)) as date) - cast($window_days as integer) and $end
        and customer_days.day <= $as_of
        and (customer_days.churn_date is null or customer_days.day < customer_days.churn_date)
)

select purchase_days.customer_key, months.month
from purchase_days
inner join months
    on months.observed_on >= purchase_days.day
    and months.observed_on < purchase_days.lapse_date
    and (purchase_days.next_purchase_date is null or purchase_days.next_purchase_date > months.observed_on)
