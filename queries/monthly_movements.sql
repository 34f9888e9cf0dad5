-- One row per calendar month from $start's month to $end's month: customers
-- active at the start and end of the month, new, reactivated and lost in it.
-- The first month starts on $start (partial when $start is not the 1st) and the
-- last ends on $end. Same one-pass rules as period_movements.sql; active_end is
-- the opening count plus the running sum of movements, so
-- active_end = active_start + new + reactivated - lost holds by construction
-- (tests check it against a direct count of active customers on each day).
-- lost_at_contract_end counts the losses dated by a churn_date (contract end,
-- the explicit rule) rather than by last purchase + W (the lapse rule).
-- With $movement_cube (see period_movements.sql) the movements are read from
-- the derived table movement_events instead of counted from customer_days;
-- DuckDB folds the bound flag, so only one source is scanned.
-- Parameters: $start, $end, $window_days (W), $as_of, $all_customers, $movement_cube.
with months as (
    select cast(month_start as date) as month
    from generate_series(
        cast(date_trunc('month', cast($start as date)) as timestamp),
        cast(date_trunc('month', cast($end as date)) as timestamp),
        interval 1 month
    ) as series(month_start)
),

purchase_days as (
    select
        day,
        prev_purchase_date,
        next_purchase_date,
        case
            when churn_date is not null and churn_date <= day + cast($window_days as integer) then churn_date
            else day + cast($window_days as integer)
        end as lapse_date,
        churn_date is not null and churn_date <= day + cast($window_days as integer) as lapses_at_contract_end,
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
    select
        movement_events.event_date, movement_events.new_customers, movement_events.reactivated,
        movement_events.lost, movement_events.lost_at_contract_end
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

movements as (
    select
        cast(date_trunc('month', event_date) as date) as month, new_customers, reactivated, lost,
        lost_at_contract_end
    from cube_events
    where event_date >= $start
    union all
    select
        cast(date_trunc('month', day) as date) as month, 1 as new_customers, 0 as reactivated, 0 as lost,
        0 as lost_at_contract_end
    from purchase_days
    where day >= $start and prev_purchase_date is null
    union all
    select cast(date_trunc('month', day) as date), 0, 1, 0, 0
    from purchase_days
    where day >= $start and datediff('day', prev_purchase_date, day) > $window_days
    union all
    select
        cast(date_trunc('month', lapse_date) as date), 0, 0, 1,
        case when lapses_at_contract_end then 1 else 0 end
    from purchase_days
    where ends_spell and lapse_date between $start and $end and lapse_date <= $as_of
),

monthly_events as (
    select
        month, sum(new_customers) as new_customers, sum(reactivated) as reactivated, sum(lost) as lost,
        sum(lost_at_contract_end) as lost_at_contract_end
    from movements
    group by month
),

opening as (
    select
        (select count(*)
         from purchase_days
         where
             day < $start and lapse_date >= $start
             and (next_purchase_date is null or next_purchase_date >= $start))
        + (select coalesce(sum(new_customers + reactivated - lost), 0) from cube_events where event_date < $start)
            as active_before
),

running as (
    select
        months.month,
        coalesce(monthly_events.new_customers, 0) as new_customers,
        coalesce(monthly_events.reactivated, 0) as reactivated,
        coalesce(monthly_events.lost, 0) as lost,
        coalesce(monthly_events.lost_at_contract_end, 0) as lost_at_contract_end,
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
    lost_at_contract_end,
    active_end
from running
order by month
