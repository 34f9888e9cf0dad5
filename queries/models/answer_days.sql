-- Model answer_days: one row per customer, survey and day with survey answers:
-- what the customer answered that day in that survey, counted and summed.
-- Pages count answers by customer (segment grid) or by region and rep (team)
-- from these rows: they carry customer_key and attribute_group (see
-- customer_dim.sql), so a period's answers need no join of the answers to the
-- customers on their text id (half of the team query's time at 10M lines).
-- Counts follow the domain's scales: NPS answers 0-10 (promoters 9-10,
-- detractors 0-6), CSAT answers 1-5 (satisfied 4-5); answer_rows counts every
-- row, whatever it holds (a complaint with no score is still an answer).
-- Parameters: none. Depends on customer_dim. Stored in day order so that a
-- date range reads only its own row groups.
select
    customer_dim.customer_key,
    feedback.customer_id,
    customer_dim.attribute_group,
    feedback.response_date,
    feedback.survey,
    count(*) as answer_rows,
    -- Sums of small numbers cast to BIGINT: DuckDB makes them HUGEINT otherwise.
    cast(sum(case when feedback.nps between 0 and 10 then 1 else 0 end) as bigint) as nps_answers,
    cast(sum(case when feedback.nps between 0 and 10 then feedback.nps else 0 end) as bigint) as nps_sum,
    cast(sum(case when feedback.nps between 9 and 10 then 1 else 0 end) as bigint) as promoters,
    cast(sum(case when feedback.nps between 0 and 6 then 1 else 0 end) as bigint) as detractors,
    cast(sum(case when feedback.csat between 1 and 5 then 1 else 0 end) as bigint) as csat_answers,
    cast(sum(case when feedback.csat between 1 and 5 then feedback.csat else 0 end) as bigint) as csat_sum,
    cast(sum(case when feedback.csat between 4 and 5 then 1 else 0 end) as bigint) as satisfied,
    cast(sum(case when feedback.complaint then 1 else 0 end) as bigint) as complaints
from feedback
inner join customer_dim on customer_dim.customer_id = feedback.customer_id
group by
    customer_dim.customer_key,
    feedback.customer_id,
    customer_dim.attribute_group,
    feedback.response_date,
    feedback.survey
order by feedback.response_date
