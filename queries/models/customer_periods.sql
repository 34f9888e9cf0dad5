-- Model customer_periods: one row per stored period and customer with a day
-- row in it (period_start, period_end, customer_key): the customer's figures
-- for that period, the sums segment_customers.sql takes over customer_days for
-- any other period (revenue net of returns and cancellations, gross profit over
-- the lines with a cost, orders, lines, purchase days, first and last purchase
-- day, contract end), and the customer's attribute_group (customer_dim.sql) for
-- sums by region and rep. The stored periods are the period presets resolved
-- against the data's range (derive.stored_periods: last 12 months, year to
-- date, last full year, all time) and the periods before each, which the team
-- page compares with: the periods nearly every filter change asks for. A
-- segment grid of one of them reads a row per customer here instead of
-- summing 2.6 million day rows at 10 million lines. A load that moves the
-- data's first or last day moves the presets, and rebuilds this table.
-- Parameters: $period_starts, $period_ends (lists of equal length, from the
-- data's range, never from user input). Depends on customer_days.
with stored_periods as (
    -- DuckDB unnests two lists in one select side by side (Spark: arrays_zip and explode).
    select
        unnest(cast($period_starts as date[])) as period_start,
        unnest(cast($period_ends as date[])) as period_end
)

select
    stored_periods.period_start,
    stored_periods.period_end,
    customer_days.customer_key,
    customer_days.customer_id,
    customer_days.attribute_group,
    sum(customer_days.revenue) as revenue,
    sum(customer_days.profit) as profit,
    sum(customer_days.lines_with_profit) as lines_with_profit,
    sum(customer_days.orders) as orders,
    sum(customer_days.lines) as lines,
    sum(case when customer_days.is_purchase then 1 else 0 end) as purchase_days,
    min(case when customer_days.is_purchase then customer_days.day end) as first_purchase_in_period,
    max(case when customer_days.is_purchase then customer_days.day end) as last_purchase_date,
    max(customer_days.churn_date) as churn_date
from customer_days
inner join stored_periods
    on customer_days.day between stored_periods.period_start and stored_periods.period_end
group by
    stored_periods.period_start,
    stored_periods.period_end,
    customer_days.customer_key,
    customer_days.customer_id,
    customer_days.attribute_group
order by stored_periods.period_start, stored_periods.period_end
