-- One row per answer of a customer in scope dated in [$start, $end] that
-- carries a non-blank comment, newest first. Scores outside their scale show
-- as not given (the loader rejects them; this guards against any that got in).
-- Parameters: $start, $end.
select
    feedback.feedback_id,
    feedback.customer_id,
    scoped_customers.name,
    coalesce(scoped_customers.sales_rep, '(unknown)') as sales_rep,
    feedback.response_date,
    coalesce(nullif(lower(trim(feedback.survey)), ''), '(unspecified)') as survey,
    case when feedback.nps between 0 and 10 then feedback.nps end as nps,
    case when feedback.csat between 1 and 5 then feedback.csat end as csat,
    feedback.complaint,
    feedback.comment
from feedback
inner join scoped_customers on scoped_customers.customer_id = feedback.customer_id
where feedback.response_date between $start and $end and trim(coalesce(feedback.comment, '')) <> ''
order by feedback.response_date desc, feedback.feedback_id
