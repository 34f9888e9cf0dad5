-- Building block window_spell_events: the movements of customers in scope
-- dated within [$start, $end] only ('new', 'reactivated', 'lost'; same rule
-- as spell_events.sql), plus one 'active_before' row per customer active on
-- the day before $start. It scans only purchase days from $start - W to $end,
-- which customer_days' day ordering lets DuckDB skip to, so a period costs
-- the same whatever the length of history.
-- Parameters: $start, $end, $window_days (W), $as_of.
with purchase_days as (
    select
        customer_days.customer_key,
        customer_days.customer_id,
        customer_days.day,
        customer_days.prev_purchase_date,
        customer_days.next_purchase_date,
        scoped_customers.churn_date
    from customer_days
    inner join scoped_customers on scoped_customers.customer_key = customer_days.customer_key
    where
        customer_days.is_purchase
        -- DuckDB subtracts whole days from a date with -; Spark's date_sub does the same.
        and customer_days.day between cast($start as date) - cast($window_days as integer) and $end
        and customer_days.day <= $as_of
        and (scoped_customers.churn_date is null or customer_days.day < scoped_customers.churn_date)
),

active_before as (
    -- Active on the day before $start: a purchase in the W days ending that day,
    -- contract not ended by then.
    select distinct customer_key, customer_id, cast($start as date) - 1 as event_date, 'active_before' as event
    from purchase_days
    where
        day between cast($start as date) - cast($window_days as integer) and cast($start as date) - 1
        and (churn_date is null or churn_date > cast($start as date) - 1)
),

spell_starts as (
    select
        customer_key,
        customer_id,
        day as event_date,
        case when prev_purchase_date is null then 'new' else 'reactivated' end as event
    from purchase_days
    where
        day >= $start
        and (prev_purchase_date is null or datediff('day', prev_purchase_date, day) > $window_days)
),

spell_ends as (
    select
        customer_key,
        customer_id,
        case
            when churn_date is not null and churn_date <= day + cast($window_days as integer) then churn_date
            else day + cast($window_days as integer)
        end as event_date,
        'lost' as event
    from purchase_days
    where
        next_purchase_date is null
        or datediff('day', day, next_purchase_date) > $window_days
        or (churn_date is not null and next_purchase_date >= churn_date)
)

select customer_key, customer_id, event_date, event from active_before
union all
select customer_key, customer_id, event_date, event from spell_starts
union all
select customer_key, customer_id, event_date, event from spell_ends
where event_date between $start and $end and event_date <= $as_of
