-- One row per complaint of a customer in scope that was raised in
-- [$start, $end], or raised earlier and still open on $as_of (open = no
-- resolved date on or before $as_of). age_days counts from the answer date to
-- $as_of for open complaints; days_to_resolve is set for resolved ones.
-- Scores outside their scale show as not given.
-- Parameters: $start, $end, $as_of.
select
    feedback.feedback_id,
    feedback.customer_id,
    scoped_customers.name,
    coalesce(scoped_customers.region, '(unknown)') as region,
    coalesce(scoped_customers.sales_rep, '(unknown)') as sales_rep,
    coalesce(nullif(lower(trim(feedback.survey)), ''), '(unspecified)') as survey,
    feedback.response_date,
    feedback.resolved_date,
    case when feedback.csat between 1 and 5 then feedback.csat end as csat,
    case when feedback.nps between 0 and 10 then feedback.nps end as nps,
    feedback.comment,
    feedback.resolved_date is null or feedback.resolved_date > $as_of as is_open,
    feedback.response_date between $start and $end as raised_in_period,
    case when feedback.resolved_date is null or feedback.resolved_date > $as_of
        then datediff('day', feedback.response_date, $as_of) end as age_days,
    case when feedback.resolved_date <= $as_of
        then datediff('day', feedback.response_date, feedback.resolved_date) end as days_to_resolve
from feedback
inner join scoped_customers on scoped_customers.customer_id = feedback.customer_id
where
    feedback.complaint
    and feedback.response_date <= $end
    and (feedback.response_date >= $start or feedback.resolved_date is null or feedback.resolved_date > $as_of)
order by feedback.response_date, feedback.feedback_id
