-- One row: survey answers of customers in scope dated within [$start, $end]:
-- NPS answers and their promoters (9-10) and detractors (0-6); CSAT answers and
-- how many were satisfied (4-5); average CSAT. Every answer counts. Scores
-- outside their scale (NPS 0-10, CSAT 1-5) are ignored, as on the satisfaction page.
-- Parameters: $start, $end, $all_customers.
select
    coalesce(sum(case when feedback.nps between 0 and 10 then 1 else 0 end), 0) as nps_answers,
    coalesce(sum(case when feedback.nps between 9 and 10 then 1 else 0 end), 0) as promoters,
    coalesce(sum(case when feedback.nps between 0 and 6 then 1 else 0 end), 0) as detractors,
    coalesce(sum(case when feedback.csat between 1 and 5 then 1 else 0 end), 0) as csat_answers,
    coalesce(sum(case when feedback.csat between 4 and 5 then 1 else 0 end), 0) as satisfied,
    avg(case when feedback.csat between 1 and 5 then feedback.csat end) as average_csat
from feedback
where
    feedback.response_date between $start and $end
    -- $all_customers (set by query.py): nobody is filtered out, so skip the join (DuckDB folds it);
    -- every feedback customer is in customer_dim, so nothing else changes.
    and (feedback.customer_id in (select customer_id from scoped_customers where not $all_customers)
        or $all_customers)
