-- One row per customer in scope and scale ('nps' or 'csat') that the customer
-- answered in [$start, $end] (any survey): their LATEST such answer in the
-- period (ties on the day broken by feedback id, then row), whether they were
-- active on the answer day, whether they were lost after it (the first lapse of
-- a spell dated after the answer and no later than $end + W; losses are only
-- known up to $as_of) and whether they are active on $end. Their period
-- revenue, value grid cell and RFM segment are the segments page's, joined in
-- customer_value/satisfaction.py.
-- Activity follows the rule of spell_events.sql, read as period_movements.sql
-- does, from the purchase days of the answering customers only (a fraction of
-- everyone's): a customer is active on day D when one purchase day p <= D has
-- D < lapse(p) = least(p + W, churn_date) and no later purchase by D; a loss is
-- dated lapse(p) of a purchase day that ends its spell. Every purchase day that
-- can decide these lies in ($start - W, $end].
-- A score outside its scale (NPS 0-10, CSAT 1-5) is not an answer on that
-- scale: the loader rejects such rows; this query ignores any that got in.
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
        scoped_customers.customer_key,
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

answering_purchase_days as (
    select
        customer_days.customer_key,
        customer_days.day,
        customer_days.next_purchase_date,
        case
            when customer_days.churn_date is not null
                and customer_days.churn_date <= customer_days.day + cast($window_days as integer)
                then customer_days.churn_date
            -- DuckDB adds whole days to a date with +; Spark's date_add does the same.
            else customer_days.day + cast($window_days as integer)
        end as lapse_date,
        customer_days.next_purchase_date is null
        or datediff('day', customer_days.day, customer_days.next_purchase_date) > $window_days
        or (customer_days.churn_date is not null and customer_days.next_purchase_date >= customer_days.churn_date)
            as ends_spell
    from customer_days
    where
        customer_days.is_purchase
        and customer_days.day > cast($start as date) - cast($window_days as integer)
        and customer_days.day <= $end
        and customer_days.day <= $as_of
        and (customer_days.churn_date is null or customer_days.day < customer_days.churn_date)
        and customer_days.customer_key in (select latest_answers.customer_key from latest_answers)
),

-- Grouped by customer key and scale only, then joined back: grouping by the answer's text (survey,
-- comment) as well cost more than the rest of the query.
activity as (
    select
        latest_answers.customer_key,
        latest_answers.scale,
        bool_or(answering_purchase_days.day <= latest_answers.response_date
            and answering_purchase_days.lapse_date > latest_answers.response_date
            and (answering_purchase_days.next_purchase_date is null
                or answering_purchase_days.next_purchase_date > latest_answers.response_date)) as active_at_answer,
        bool_or(answering_purchase_days.day <= $end
            and answering_purchase_days.lapse_date > least($end, $as_of)
            and (answering_purchase_days.next_purchase_date is null
                or answering_purchase_days.next_purchase_date > $end)) as active_at_end,
        min(case
            when answering_purchase_days.ends_spell
                and answering_purchase_days.lapse_date > latest_answers.response_date
                and answering_purchase_days.lapse_date <= cast($end as date) + cast($window_days as integer)
                and answering_purchase_days.lapse_date <= $as_of
                then answering_purchase_days.lapse_date
        end) as lost_date
    from latest_answers
    inner join answering_purchase_days on answering_purchase_days.customer_key = latest_answers.customer_key
    group by latest_answers.customer_key, latest_answers.scale
),

with_activity as (
    select
        latest_answers.customer_id,
        latest_answers.customer_key,
        latest_answers.scale,
        latest_answers.score,
        latest_answers.response_date,
        latest_answers.survey,
        latest_answers.comment,
        coalesce(activity.active_at_answer, false) as active_at_answer,
        coalesce(activity.active_at_end, false) as active_at_end,
        activity.lost_date
    from latest_answers
    left join activity
        on activity.customer_key = latest_answers.customer_key and activity.scale = latest_answers.scale
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
    scoped_customers.last_purchase_date
from with_activity
inner join scoped_customers on scoped_customers.customer_key = with_activity.customer_key
order by with_activity.customer_id, with_activity.scale
