-- One row: customer movements over the period [$start, $end] (inclusive):
-- active at the start (on the day before $start), new, reactivated and lost
-- during it, active at the end (on $end) = start + new + reactivated - lost.
-- Parameters: $start, $end, plus those of window_spell_events.
-- requires: window_spell_events
select
    coalesce(sum(case when event = 'active_before' then 1 else 0 end), 0) as active_start,
    coalesce(sum(case when event = 'new' then 1 else 0 end), 0) as new_customers,
    coalesce(sum(case when event = 'reactivated' then 1 else 0 end), 0) as reactivated,
    coalesce(sum(case when event = 'lost' then 1 else 0 end), 0) as lost,
    coalesce(sum(case when event = 'lost' then -1 else 1 end), 0) as active_end
from window_spell_events
