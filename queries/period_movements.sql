-- One row: customer movements over the period [$start, $end] (inclusive):
-- active at the start (on the day before $start), new, reactivated and lost
-- during it, and active at the end (on $end) = start + new + reactivated - lost.
-- Same activity rule as spell_events.sql, computed in one pass over the purchase
-- days from $start - W to $end (customer_days is stored in day order, so
-- DuckDB reads only those row groups), without materialising spells:
--   active on day D  <=> the customer's last purchase on or before D is within
--                        (D - W, D] and churn_date (if any) is after D; each
--                        customer has exactly one such "last purchase" row, so
--                        counting rows counts customers;
--   new              <=> a purchase day with no earlier purchase;
--   reactivated      <=> a purchase day more than W days after the previous one;
--   lost             <=> the last purchase of a spell (next one more than W days
--                        later, none, or after the contract end), on
--                        least(day + W, churn_date).
--   active at the end <=> as on D = $end, except that a loss after $as_of has
--                        not happened yet (as in spell_events.sql), which only
--                        matters for a period ending after the data does.
-- When $movement_cube is true (query.py: W is one of the windows the derived
-- table movement_events holds, and $as_of is the data's last day) the figures
-- are sums over that table instead: movements are additive, and active on day
-- D = new + reactivated - lost dated up to D. DuckDB folds the bound flag, so
-- only one of the two branches below runs. tests/test_derived.py checks that
-- both give the same figures.
-- Parameters: $start, $end, $window_days (W), $as_of, $all_customers, $movement_cube.
with purchase_days as (
    select
        day,
        prev_purchase_date,
        next_purchase_date,
        churn_date,
        case
            when churn_date is not null and churn_date <= day + cast($window_days as integer) then churn_date
            -- DuckDB adds whole days to a date with +; Spark's date_add does the same.
            else day + cast($window_days as integer)
        end as lapse_date,
        next_purchase_date is null
        or datediff('day', day, next_purchase_date) > $window_days
        or (churn_date is not null and next_purchase_date >= churn_date) as ends_spell
    from customer_days
    where
        not $movement_cube
        and is_purchase
        -- $all_customers (set by query.py): nobody is filtered out, so skip the join (DuckDB folds it).
        and (customer_key in (select customer_key from scoped_customers where not $all_customers) or $all_customers)
        and day between cast($start as date) - cast($window_days as integer) and $end
        and day <= $as_of
        and (churn_date is null or day < churn_date)
),

scoped_groups as (
    select distinct
        coalesce(customer_type, '(unknown)') as customer_type,
        coalesce(region, '(unknown)') as region,
        coalesce(sales_rep, '(unknown)') as sales_rep
    from scoped_customers
    where $movement_cube and not $all_customers
),

cube_events as (
    select movement_events.event_date, movement_events.new_customers, movement_events.reactivated,
        movement_events.lost
    from movement_events
    where
        $movement_cube
        and movement_events.window_days = $window_days
        and movement_events.event_date <= $end
        and movement_events.event_date <= $as_of
        and ($all_customers or exists (
            select 1 from scoped_groups
            where
                scoped_groups.customer_type = movement_events.customer_type
                and scoped_groups.region = movement_events.region
                and scoped_groups.sales_rep = movement_events.sales_rep))
),

cube_totals as (
    select
        coalesce(sum(case when event_date < $start then new_customers + reactivated - lost else 0 end), 0)
            as active_start,
        coalesce(sum(case when event_date >= $start then new_customers else 0 end), 0) as new_customers,
        coalesce(sum(case when event_date >= $start then reactivated else 0 end), 0) as reactivated,
        coalesce(sum(case when event_date >= $start then lost else 0 end), 0) as lost
    from cube_events
)

select active_start, new_customers, reactivated, lost, active_start + new_customers + reactivated - lost as active_end
from cube_totals
where $movement_cube

union all

select
    coalesce(sum(case
        when day < $start and lapse_date >= $start
            and (next_purchase_date is null or next_purchase_date >= $start) then 1 else 0 end), 0)
        as active_start,
    coalesce(sum(case when day >= $start and prev_purchase_date is null then 1 else 0 end), 0) as new_customers,
    coalesce(sum(case
        when day >= $start and datediff('day', prev_purchase_date, day) > $window_days then 1 else 0 end), 0)
        as reactivated,
    coalesce(sum(case when ends_spell and lapse_date between $start and $end and lapse_date <= $as_of
        then 1 else 0 end), 0) as lost,
    coalesce(sum(case
        when lapse_date > least($end, $as_of) and (next_purchase_date is null or next_purchase_date > $end)
            then 1 else 0 end), 0)
        as active_end
from purchase_days
-- An aggregate without rows still returns one row: the flag goes in having, not where.
having not $movement_cube
