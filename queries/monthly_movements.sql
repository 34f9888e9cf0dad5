-- One row per calendar month from $start's month to $end's month: customers
-- active at the start and end of the month, new, reactivated and lost in it.
-- The first month starts on $start (a partial month when $start is not the
-- 1st) and the last ends on $end. Identity: active_end = active_start + new +
-- reactivated - lost, by construction; tests check active_end against a
-- direct count of customers active on that day.
-- Parameters: $start, $end, plus those of window_spell_events.
-- requires: window_spell_events
with months as (
    select cast(month_start as date) as month
    from generate_series(
        cast(date_trunc('month', cast($start as date)) as timestamp),
        cast(date_trunc('month', cast($end as date)) as timestamp),
        interval 1 month
    ) as series(month_start)
),

monthly_events as (
    select
        cast(date_trunc('month', event_date) as date) as month,
        sum(case when event = 'new' then 1 else 0 end) as new_customers,
        sum(case when event = 'reactivated' then 1 else 0 end) as reactivated,
        sum(case when event = 'lost' then 1 else 0 end) as lost
    from window_spell_events
    where event <> 'active_before'
    group by 1
),

opening as (
    select count(*) as active_before from window_spell_events where event = 'active_before'
),

running as (
    select
        months.month,
        coalesce(monthly_events.new_customers, 0) as new_customers,
        coalesce(monthly_events.reactivated, 0) as reactivated,
        coalesce(monthly_events.lost, 0) as lost,
        opening.active_before
        + sum(coalesce(monthly_events.new_customers, 0) + coalesce(monthly_events.reactivated, 0)
              - coalesce(monthly_events.lost, 0))
            over (order by months.month rows between unbounded preceding and current row)
            as active_end
    from months
    cross join opening
    left join monthly_events on monthly_events.month = months.month
)

select
    month,
    active_end - new_customers - reactivated + lost as active_start,
    new_customers,
    reactivated,
    lost,
    active_end
from running
order by month
