-- One row per customer in scope and scale ('nps' or 'csat') that the customer
-- answered in [$start, $end] (any survey): their LATEST such answer in the
-- period (ties on the day broken by feedback id, then row), whether they were
-- active on the answer day, whether they were lost after it (a 'lost' event of
-- spell_events dated after the answer and no later than $end + W; losses are
-- only known up to $as_of), whether they are active on $end, and their period
-- revenue (0 when they bought nothing, net, in the period) and value grid cell.
-- A score outside its scale (NPS 0-10, CSAT 1-5) is not an answer on that
-- scale: the loader rejects such rows; this query ignores any that got in.
-- requires: spell_events, satisfaction_customer_value
-- Parameters: $start, $end, $window_days (W), $as_of.
with scored_answers as (
    select feedback.customer_id, 'nps' as scale, feedback.nps as score, feedback.response_date,
           feedback.feedback_id, feedback.row_key, feedback.survey, feedback.comment
    from feedback
    where feedback.nps between 0 and 10 and feedback.response_date between $start and $end
    union all
    select feedback.customer_id, 'csat' as scale, feedback.csat as score, feedback.response_date,
           feedback.feedback_id, feedback.row_key, feedback.survey, feedback.comment
    from feedback
    where feedback.csat between 1 and 5 and feedback.response_date between $start and $end
),

ranked_answers as (
    select
        scored_answers.*,
        row_number() over (
            partition by scored_answers.customer_id, scored_answers.scale
            order by scored_answers.response_date desc, scored_answers.feedback_id desc nulls last,
                scored_answers.row_key desc
        ) as recency_rank
    from scored_answers
    inner join scoped_customers on scoped_customers.customer_id = scored_answers.customer_id
),

latest_answers as (
    select * from ranked_answers where recency_rank = 1
),

with_activity as (
    select
        latest_answers.customer_id,
        latest_answers.scale,
        latest_answers.score,
        latest_answers.response_date,
        latest_answers.survey,
        latest_answers.comment,
        -- Active on a day = spells started minus spells ended on or before it (see spell_events).
        coalesce(sum(case when spell_events.event_date <= latest_answers.response_date
            then case when spell_events.event = 'lost' then -1 else 1 end end), 0) > 0 as active_at_answer,
        coalesce(sum(case when spell_events.event_date <= $end
            then case when spell_events.event = 'lost' then -1 else 1 end end), 0) > 0 as active_at_end,
        min(case when spell_events.event = 'lost'
            and spell_events.event_date > latest_answers.response_date
            and spell_events.event_date <= cast($end as date) + cast($window_days as integer)
            then spell_events.event_date end) as lost_date
    from latest_answers
    left join spell_events on spell_events.customer_id = latest_answers.customer_id
    group by latest_answers.customer_id, latest_answers.scale, latest_answers.score,
        latest_answers.response_date, latest_answers.survey, latest_answers.comment
)

select
    with_activity.customer_id,
    scoped_customers.name,
    coalesce(scoped_customers.customer_type, '(unknown)') as customer_type,
    coalesce(scoped_customers.region, '(unknown)') as region,
    coalesce(scoped_customers.sales_rep, '(unknown)') as sales_rep,
    with_activity.scale,
    with_activity.score,
    with_activity.response_date,
    with_activity.survey,
    with_activity.comment,
    with_activity.active_at_answer,
    with_activity.active_at_end,
    with_activity.lost_date is not null as lost_after_answer,
    with_activity.lost_date,
    scoped_customers.last_purchase_date,
    coalesce(satisfaction_customer_value.period_revenue, 0) as period_revenue,
    coalesce(satisfaction_customer_value.value_cell, 'No purchase in period') as value_cell
from with_activity
inner join scoped_customers on scoped_customers.customer_id = with_activity.customer_id
left join satisfaction_customer_value on satisfaction_customer_value.customer_id = with_activity.customer_id
order by with_activity.customer_id, with_activity.scale
