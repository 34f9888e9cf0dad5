-- Model movement_events: one row per churn window W (those in $cube_windows),
-- event day and customer attribute group (customer_type, region, sales_rep,
-- '(unknown)' when missing) with the number of customer movements that day:
-- new (first purchase ever), reactivated (a purchase more than W days after
-- the previous one) and lost (the day a spell lapses: last purchase + W, or
-- churn_date if that comes first; lost_at_contract_end counts those dated by
-- the churn_date). Same activity rule as spell_events.sql.
-- Movements are additive, so any period's figures are sums over this small
-- table: customers active on day D = sum(new + reactivated - lost) over days
-- <= D. period_movements reads it when W is one of these windows and nothing
-- narrows the data's last day ($movement_cube, set by query.py); losses dated
-- after the data's last day are stored and filtered out by the reader.
-- Parameters: $cube_windows (list of W, from customer_value.query.MOVEMENT_CUBE_WINDOWS).
-- Depends on customer_dim and customer_days.
with windows as (
    -- unnest is DuckDB's; SQLGlot maps it to explode on Spark.
    select unnest($cube_windows) as window_days
),

purchase_days as (
    select
        customer_days.day,
        customer_days.prev_purchase_date,
        customer_days.next_purchase_date,
        customer_days.churn_date,
        coalesce(customer_dim.customer_type, '(unknown)') as customer_type,
        coalesce(customer_dim.region, '(unknown)') as region,
        coalesce(customer_dim.sales_rep, '(unknown)') as sales_rep
    from customer_days
    inner join customer_dim on customer_dim.customer_key = customer_days.customer_key
    where customer_days.is_purchase and (customer_days.churn_date is null or customer_days.day < customer_days.churn_date)
),

events as (
    select
        windows.window_days,
        purchase_days.day as event_date,
        customer_type,
        region,
        sales_rep,
        case when prev_purchase_date is null then 1 else 0 end as new_customers,
        case when prev_purchase_date is not null then 1 else 0 end as reactivated,
        0 as lost,
        0 as lost_at_contract_end
    from purchase_days
    cross join windows
    where prev_purchase_date is null or datediff('day', prev_purchase_date, day) > windows.window_days
    union all
    select
        windows.window_days,
        case
            when churn_date is not null and churn_date <= day + cast(windows.window_days as integer) then churn_date
            else day + cast(windows.window_days as integer)
        end,
        customer_type,
        region,
        sales_rep,
        0,
        0,
        1,
        case when churn_date is not null and churn_date <= day + cast(windows.window_days as integer) then 1 else 0 end
    from purchase_days
    cross join windows
    where
        next_purchase_date is null
        or datediff('day', day, next_purchase_date) > windows.window_days
        or (churn_date is not null and next_purchase_date >= churn_date)
)

select
    window_days,
    event_date,
    customer_type,
    region,
    sales_rep,
    cast(sum(new_customers) as integer) as new_customers,
    cast(sum(reactivated) as integer) as reactivated,
    cast(sum(lost) as integer) as lost,
    cast(sum(lost_at_contract_end) as integer) as lost_at_contract_end
from events
group by window_days, event_date, customer_type, region, sales_rep
order by window_days, event_date
