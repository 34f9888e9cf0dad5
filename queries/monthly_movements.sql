-- One row per calendar month from $start's month to $end's month: customers
-- active at the start and end of the month, new, reactivated and lost in it.
-- Identity: active_end = active_start + new + reactivated - lost, by
-- construction from the same events (tests check it against a direct count).
-- Parameters: $start, $end (dates), plus those of spell_events.
-- requires: spell_events
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
    from spell_events
    group by 1
),

all_months as (
    -- Every month with an event, so the running total before $start is right.
    select month from monthly_events
    union
    select month from months
),

running as (
    select
        all_months.month,
        coalesce(monthly_events.new_customers, 0) as new_customers,
        coalesce(monthly_events.reactivated, 0) as reactivated,
        coalesce(monthly_events.lost, 0) as lost,
        sum(coalesce(monthly_events.new_customers, 0) + coalesce(monthly_events.reactivated, 0)
            - coalesce(monthly_events.lost, 0))
            over (order by all_months.month rows between unbounded preceding and current row)
            as active_end
    from all_months
    left join monthly_events on monthly_events.month = all_months.month
)

select
    running.month,
    running.active_end - running.new_customers - running.reactivated + running.lost as active_start,
    running.new_customers,
    running.reactivated,
    running.lost,
    running.active_end
from running
inner join months on months.month = running.month
order by running.month
