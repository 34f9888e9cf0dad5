-- One row per customer in scope with any survey answer dated in
-- [$start, $end]: NPS answers, their sum, promoters (9-10) and detractors (0-6).
-- The value grid's average NPS and NPS per cell are summed from these rows.
-- Parameters: $start, $end.
select
    feedback.customer_id,
    count(feedback.nps) as nps_answers,
    sum(feedback.nps) as nps_sum,
    sum(case when feedback.nps >= 9 then 1 else 0 end) as promoters,
    sum(case when feedback.nps <= 6 then 1 else 0 end) as detractors
from feedback
inner join scoped_customers on scoped_customers.customer_id = feedback.customer_id
where feedback.response_date between $start and $end
group by feedback.customer_id
