-- One row per customer in scope with any survey answer dated on or before
-- $end: NPS answers, their sum, promoters (9-10) and detractors (0-6) among the
-- answers dated in [$start, $end]; and promoter answers on or before $end (the
-- lifecycle's "advocate" counts a 9-10 answer given at any time up to then).
-- Parameters: $start, $end.
select
    feedback.customer_id,
    count(case when feedback.response_date >= $start then feedback.nps end) as nps_answers,
    sum(case when feedback.response_date >= $start then feedback.nps end) as nps_sum,
    sum(case when feedback.response_date >= $start and feedback.nps >= 9 then 1 else 0 end) as promoters,
    sum(case when feedback.response_date >= $start and feedback.nps <= 6 then 1 else 0 end) as detractors,
    sum(case when feedback.nps >= 9 then 1 else 0 end) as promoter_answers_to_end
from feedback
inner join scoped_customers on scoped_customers.customer_id = feedback.customer_id
where feedback.response_date <= $end
group by feedback.customer_id
