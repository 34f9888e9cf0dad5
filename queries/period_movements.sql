-- One row: customer movements over the period [$start, $end] (inclusive):
-- active at the start (on the day before $start), new, reactivated and lost
-- during it, active at the end (on $end).
-- Parameters: $start, $end, plus those of spell_events.
-- requires: spell_events
select
    coalesce(sum(case when event_date < $start and event <> 'lost' then 1
                      when event_date < $start then -1 else 0 end), 0) as active_start,
    coalesce(sum(case when event_date between $start and $end and event = 'new' then 1 else 0 end), 0)
        as new_customers,
    coalesce(sum(case when event_date between $start and $end and event = 'reactivated' then 1 else 0 end), 0)
        as reactivated,
    coalesce(sum(case when event_date between $start and $end and event = 'lost' then 1 else 0 end), 0)
        as lost,
    coalesce(sum(case when event_date <= $end and event <> 'lost' then 1
                      when event_date <= $end then -1 else 0 end), 0) as active_end
from spell_events
