-- One row per (region, sales_rep) pair among the customers in scope ('(unknown)'
-- where missing) for [$start, $end]: buyers, revenue, gross profit, customer
-- movements and survey answers, summed over the pair's customers. The team page
-- adds these rows up by region or by sales rep; a customer belongs to one pair,
-- so the sums equal team_customers.sql summed customer by customer (tests/
-- test_team.py checks it) and the overview's totals, without pulling 500,000
-- customer rows out of the database on every filter change.
-- Movements follow the activity rule of spell_events.sql, counted as in
-- period_movements.sql: from the derived movement_events when $movement_cube is
-- true, else in one pass over the purchase days from $start - W to $end.
-- buyers: a customer is counted on their first purchase day in the period, the
-- one whose previous purchase is before $start (as in period_sales.sql).
-- Day rows (customer_days) and answer rows (answer_days) find their pair
-- number (team_pairs) through their attribute_group (customer type, region and
-- rep as one number, see customer_dim.sql), a join to a few dozen groups, and
-- the names are attached last: joining the 2.6 million day rows to 500,000
-- customers, or carrying two text columns through them, took longer than the
-- sums (at 10M, for a W the movement cube does not hold: 425 -> 197 ms; with
-- the cube 117 -> 101 ms); answers joined to customers by text id were half
-- of what remained.
-- Parameters: $start, $end, $window_days (W), $as_of, $movement_cube, $stored_period.
with team_pairs as (
    select
        region,
        sales_rep,
        row_number() over (order by region, sales_rep) as pair_id
    from (
        select distinct
            coalesce(region, '(unknown)') as region,
            coalesce(sales_rep, '(unknown)') as sales_rep
        from scoped_customers
    ) as distinct_pairs
),

group_pairs as (
    -- A group is one customer type, region and rep, so it belongs to one pair.
    select distinct scoped_customers.attribute_group, team_pairs.pair_id
    from scoped_customers
    inner join team_pairs
        on team_pairs.region = coalesce(scoped_customers.region, '(unknown)')
        and team_pairs.sales_rep = coalesce(scoped_customers.sales_rep, '(unknown)')
),

scoped_days as (
    select
        group_pairs.pair_id,
        customer_days.day,
        customer_days.revenue,
        customer_days.profit,
        customer_days.lines_with_profit,
        customer_days.is_purchase,
        customer_days.prev_purchase_date,
        customer_days.next_purchase_date,
        customer_days.churn_date
    from customer_days
    inner join group_pairs on group_pairs.attribute_group = customer_days.attribute_group
    where customer_days.day between cast($start as date) - cast($window_days as integer) and $end
),

sales as (
    -- A period customer_periods holds ($stored_period, set by query.py: a
    -- period preset or the one before it) is read as the load summed it per
    -- customer; any other is summed from the day rows. DuckDB folds the bound
    -- constants, so one branch runs. rows_in_period: customers with a day row
    -- in the period, or their day rows; either is above 0 exactly when a pair
    -- has any.
    select
        group_pairs.pair_id,
        sum(case when customer_periods.purchase_days > 0 then 1 else 0 end) as bought_in_period,
        sum(customer_periods.revenue) as revenue,
        sum(customer_periods.profit) as profit,
        sum(customer_periods.lines_with_profit) as lines_with_profit,
        count(*) as rows_in_period
    from customer_periods
    inner join group_pairs on group_pairs.attribute_group = customer_periods.attribute_group
    where
        $stored_period
        and customer_periods.period_start = $start
        and customer_periods.period_end = $end
    group by group_pairs.pair_id

    union all

    select
        pair_id,
        sum(case
            when is_purchase and (prev_purchase_date is null or prev_purchase_date < $start) then 1 else 0 end)
            as bought_in_period,
        sum(revenue) as revenue,
        sum(profit) as profit,
        sum(lines_with_profit) as lines_with_profit,
        count(*) as rows_in_period
    from scoped_days
    where not $stored_period and day >= $start
    group by pair_id
),

purchase_days as (
    select
        pair_id,
        day,
        prev_purchase_date,
        next_purchase_date,
        case
            when churn_date is not null and churn_date <= day + cast($window_days as integer) then churn_date
            -- DuckDB adds whole days to a date with +; Spark's date_add does the same.
            else day + cast($window_days as integer)
        end as lapse_date,
        next_purchase_date is null
        or datediff('day', day, next_purchase_date) > $window_days
        or (churn_date is not null and next_purchase_date >= churn_date) as ends_spell
    from scoped_days
    where
        not $movement_cube
        and is_purchase
        and day <= $as_of
        and (churn_date is null or day < churn_date)
),

day_movements as (
    select
        pair_id,
        sum(case
            when day < $start and lapse_date >= $start
                and (next_purchase_date is null or next_purchase_date >= $start) then 1 else 0 end)
            as active_start,
        sum(case when day >= $start and prev_purchase_date is null then 1 else 0 end) as new_customer,
        sum(case when day >= $start and datediff('day', prev_purchase_date, day) > $window_days then 1 else 0 end)
            as reactivations,
        sum(case when ends_spell and lapse_date between $start and $end and lapse_date <= $as_of
            then 1 else 0 end) as losses,
        -- A loss after $as_of has not happened yet (spell_events.sql), even in a period ending later.
        sum(case when lapse_date > least($end, $as_of) and (next_purchase_date is null or next_purchase_date > $end)
            then 1 else 0 end) as active_end
    from purchase_days
    group by pair_id
),

scoped_groups as (
    select distinct
        coalesce(customer_type, '(unknown)') as customer_type,
        coalesce(region, '(unknown)') as region,
        coalesce(sales_rep, '(unknown)') as sales_rep
    from scoped_customers
    where $movement_cube
),

cube_movements as (
    select
        team_pairs.pair_id,
        sum(case when movement_events.event_date < $start
            then movement_events.new_customers + movement_events.reactivated - movement_events.lost else 0 end)
            as active_start,
        sum(case when movement_events.event_date >= $start then movement_events.new_customers else 0 end)
            as new_customer,
        sum(case when movement_events.event_date >= $start then movement_events.reactivated else 0 end)
            as reactivations,
        sum(case when movement_events.event_date >= $start then movement_events.lost else 0 end) as losses
    from movement_events
    inner join scoped_groups
        on scoped_groups.customer_type = movement_events.customer_type
        and scoped_groups.region = movement_events.region
        and scoped_groups.sales_rep = movement_events.sales_rep
    inner join team_pairs
        on team_pairs.region = movement_events.region
        and team_pairs.sales_rep = movement_events.sales_rep
    where
        $movement_cube
        and movement_events.window_days = $window_days
        and movement_events.event_date <= $end
        and movement_events.event_date <= $as_of
    group by team_pairs.pair_id
),

movements as (
    select pair_id, active_start, new_customer, reactivations, losses, active_end
    from day_movements
    union all
    select pair_id, active_start, new_customer, reactivations, losses,
        active_start + new_customer + reactivations - losses as active_end
    from cube_movements
),

answers as (
    select
        group_pairs.pair_id,
        sum(answer_days.nps_answers) as nps_answers,
        sum(answer_days.promoters) as promoters,
        sum(answer_days.detractors) as detractors,
        sum(answer_days.csat_answers) as csat_answers,
        sum(answer_days.satisfied) as satisfied,
        sum(answer_days.complaints) as complaints,
        sum(answer_days.answer_rows) as answer_rows
    from answer_days
    inner join group_pairs on group_pairs.attribute_group = answer_days.attribute_group
    where answer_days.response_date between $start and $end
    group by group_pairs.pair_id
)

select
    team_pairs.region,
    team_pairs.sales_rep,
    coalesce(sales.bought_in_period, 0) as bought_in_period,
    coalesce(movements.active_start, 0) as active_start,
    coalesce(movements.active_end, 0) as active_end,
    coalesce(movements.new_customer, 0) as new_customer,
    coalesce(movements.reactivations, 0) as reactivations,
    coalesce(movements.losses, 0) as losses,
    coalesce(sales.revenue, 0) as revenue,
    sales.profit,
    coalesce(sales.lines_with_profit, 0) as lines_with_profit,
    coalesce(answers.nps_answers, 0) as nps_answers,
    coalesce(answers.promoters, 0) as promoters,
    coalesce(answers.detractors, 0) as detractors,
    coalesce(answers.csat_answers, 0) as csat_answers,
    coalesce(answers.satisfied, 0) as satisfied,
    coalesce(answers.complaints, 0) as complaints
from team_pairs
left join sales on sales.pair_id = team_pairs.pair_id
left join movements on movements.pair_id = team_pairs.pair_id
left join answers on answers.pair_id = team_pairs.pair_id
-- A pair whose customers have nothing to report (left long ago, no sale, no answer) is no row,
-- as no customer of it is a row of team_customers.sql.
where
    coalesce(sales.rows_in_period, 0) > 0
    or coalesce(answers.answer_rows, 0) > 0
    or coalesce(movements.active_start, 0) > 0
    or coalesce(movements.active_end, 0) > 0
    or coalesce(movements.new_customer, 0) > 0
    or coalesce(movements.reactivations, 0) > 0
    or coalesce(movements.losses, 0) > 0
order by team_pairs.region, team_pairs.sales_rep
