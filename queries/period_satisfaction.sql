-- One row: survey answers of customers in scope dated within [$start, $end]:
-- NPS answers and their promoters (9-10) and detractors (0-6); CSAT answers and
-- how many were satisfied (4-5); average CSAT. Every answer counts.
-- Parameters: $start, $end.
select
    count(feedback.nps) as nps_answers,
    coalesce(sum(case when feedback.nps >= 9 then 1 else 0 end), 0) as promoters,
    coalesce(sum(case when feedback.nps <= 6 then 1 else 0 end), 0) as detractors,
    count(feedback.csat) as csat_answers,
    coalesce(sum(case when feedback.csat >= 4 then 1 else 0 end), 0) as satisfied,
    avg(feedback.csat) as average_csat
from feedback
inner join scoped_customers on scoped_customers.customer_id = feedback.customer_id
where feedback.response_date between $start and $end
