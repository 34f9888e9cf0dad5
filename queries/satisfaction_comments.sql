-- One row per answer of a customer in scope dated in [$start, $end] that
-- carries a non-blank comment, newest first.
-- Parameters: $start, $end.
select
    feedback.feedback_id,
    feedback.customer_id,
    scoped_customers.name,
    coalesce(scoped_customers.sales_rep, '(unknown)') as sales_rep,
    feedback.response_date,
    coalesce(nullif(trim(feedback.survey), ''), '(unspecified)') as survey,
    feedback.nps,
    feedback.csat,
    feedback.complaint,
    feedback.comment
from feedback
inner join scoped_customers on scoped_customers.customer_id = feedback.customer_id
where feedback.response_date between $start and $end and trim(coalesce(feedback.comment, '')) <> ''
order by feedback.response_date desc, feedback.feedback_id
