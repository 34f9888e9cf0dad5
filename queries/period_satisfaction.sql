-- One row: survey answers of customers in scope dated within [$start, $end]:
-- NPS answers and their promoters (9-10) and detractors (0-6); CSAT answers and
-- how many were satisfied (4-5); average CSAT. Every answer counts. Scores
-- outside their scale (NPS 0-10, CSAT 1-5) are ignored, as on the satisfaction page.
-- Parameters: $start, $end.
select
    coalesce(sum(case when feedback.nps between 0 and 10 then 1 else 0 end), 0) as nps_answers,
    coalesce(sum(case when feedback.nps between 9 and 10 then 1 else 0 end), 0) as promoters,
    coalesce(sum(case when feedback.nps between 0 and 6 then 1 else 0 end), 0) as detractors,
    coalesce(sum(case when feedback.csat between 1 and 5 then 1 else 0 end), 0) as csat_answers,
    coalesce(sum(case when feedback.csat between 4 and 5 then 1 else 0 end), 0) as satisfied,
    avg(case when feedback.csat between 1 and 5 then feedback.csat end) as average_csat
from feedback
inner join scoped_customers on scoped_customers.customer_id = feedback.customer_id
where feedback.response_date between $start and $end
