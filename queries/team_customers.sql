-- One row per customer in scope with anything to report for [$start, $end]:
-- active on the day before $start or on $end, new / reactivated / lost in the
-- period (the activity rule of the domain brief, as spell_events.sql applies
-- it), period revenue and gross profit (customer_days), and the period's survey
-- answers and complaints (answer_days). The team page sums these rows by region and by sales
-- rep, so its totals add up to the overview's. Scores outside their scale
-- (NPS 0-10, CSAT 1-5) are ignored, as on the satisfaction page.
-- Movements are counted in one pass over the purchase days from $start - W to
-- $end, as period_movements.sql and team_groups.sql count them, instead of from
-- spell_events: that building block reads every customer's whole history,
-- which cost a rep's drill-down half its time at 10M.
-- Parameters: $start, $end, $window_days (W), $as_of.
with scoped_days as (
    select
        customer_days.customer_key,
        customer_days.day,
        customer_days.revenue,
        customer_days.profit,
        customer_days.lines_with_profit,
        customer_days.is_purchase,
        customer_days.prev_purchase_date,
        customer_days.next_purchase_date,
        customer_days.churn_date
    from customer_days
    where
        customer_days.day between cast($start as date) - cast($window_days as integer) and $end
        -- The groups of the customers in scope hold exactly those customers (customer_dim.sql).
        and customer_days.attribute_group in (select scoped_customers.attribute_group from scoped_customers)
),

purchase_days as (
    select
        customer_key,
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
        is_purchase
        and day <= $as_of
        and (churn_date is null or day < churn_date)
),

movements as (
    -- A customer active on a day has exactly one purchase row whose spell covers it (see period_movements.sql).
    select
        customer_key,
        sum(case
            when day < $start and lapse_date >= $start
                and (next_purchase_date is null or next_purchase_date >= $start) then 1 else 0 end) > 0
            as active_start,
        -- A loss after $as_of has not happened yet (spell_events.sql), even in a period ending later.
        sum(case when lapse_date > least($end, $as_of) and (next_purchase_date is null or next_purchase_date > $end)
            then 1 else 0 end) > 0 as active_end,
        sum(case when day >= $start and prev_purchase_date is null then 1 else 0 end) as new_customer,
        sum(case when day >= $start and datediff('day', prev_purchase_date, day) > $window_days then 1 else 0 end)
            as reactivations,
        sum(case when ends_spell and lapse_date between $start and $end and lapse_date <= $as_of
            then 1 else 0 end) as losses
    from purchase_days
    group by customer_key
),

period_sales as (
    select
        customer_key,
        sum(revenue) as revenue,
        sum(profit) as profit,
        sum(lines_with_profit) as lines_with_profit,
        sum(case when is_purchase then 1 else 0 end) as purchase_days
    from scoped_days
    where day >= $start
    group by customer_key
),

period_feedback as (
    select
        answer_days.customer_key,
        sum(answer_days.nps_answers) as nps_answers,
        sum(answer_days.promoters) as promoters,
        sum(answer_days.detractors) as detractors,
        sum(answer_days.csat_answers) as csat_answers,
        sum(answer_days.satisfied) as satisfied,
        sum(answer_days.complaints) as complaints
    from answer_days
    where
        answer_days.response_date between $start and $end
        and answer_days.attribute_group in (select scoped_customers.attribute_group from scoped_customers)
    group by answer_days.customer_key
)

select
    scoped_customers.customer_id,
    scoped_customers.name,
    coalesce(scoped_customers.customer_type, '(unknown)') as customer_type,
    coalesce(scoped_customers.region, '(unknown)') as region,
    coalesce(scoped_customers.sales_rep, '(unknown)') as sales_rep,
    scoped_customers.last_purchase_date,
    coalesce(movements.active_start, false) as active_start,
    coalesce(movements.active_end, false) as active_end,
    coalesce(movements.new_customer, 0) as new_customer,
    coalesce(movements.reactivations, 0) as reactivations,
    coalesce(movements.losses, 0) as losses,
    coalesce(period_sales.purchase_days, 0) > 0 as bought_in_period,
    coalesce(period_sales.revenue, 0) as revenue,
    period_sales.profit,
    coalesce(period_sales.lines_with_profit, 0) as lines_with_profit,
    coalesce(period_feedback.nps_answers, 0) as nps_answers,
    coalesce(period_feedback.promoters, 0) as promoters,
    coalesce(period_feedback.detractors, 0) as detractors,
    coalesce(period_feedback.csat_answers, 0) as csat_answers,
    coalesce(period_feedback.satisfied, 0) as satisfied,
    coalesce(period_feedback.complaints, 0) as complaints
from scoped_customers
left join movements on movements.customer_key = scoped_customers.customer_key
left join period_sales on period_sales.customer_key = scoped_customers.customer_key
left join period_feedback on period_feedback.customer_key = scoped_customers.customer_key
where
    movements.customer_key is not null and (movements.active_start or movements.active_end
        or movements.new_customer > 0 or movements.reactivations > 0 or movements.losses > 0)
    or period_sales.customer_key is not null
    or period_feedback.customer_key is not null
order by scoped_customers.customer_id
