-- One row per customer in scope x survey with answers dated in [$start, $end]:
-- the same counts as satisfaction_groups.sql, per customer, so that groupings
-- made outside SQL (the RFM segments and value grid of customer_value.segments)
-- can be summed in pandas. survey is lower-cased, '(unspecified)' when blank.
-- Scores outside their scale (NPS 0-10, CSAT 1-5) count as not given.
-- Every answer counts, so a customer who answered twice counts twice.
-- Parameters: $start, $end.
with answers as (
    select
        feedback.customer_id,
        coalesce(nullif(lower(trim(feedback.survey)), ''), '(unspecified)') as survey,
        case when feedback.nps between 0 and 10 then feedback.nps end as nps,
        case when feedback.csat between 1 and 5 then feedback.csat end as csat,
        feedback.complaint
    from feedback
    inner join scoped_customers on scoped_customers.customer_id = feedback.customer_id
    where feedback.response_date between $start and $end
)

select
    customer_id,
    survey,
    count(*) as answers,
    count(nps) as nps_answers,
    coalesce(sum(case when nps >= 9 then 1 else 0 end), 0) as promoters,
    coalesce(sum(case when nps between 7 and 8 then 1 else 0 end), 0) as passives,
    coalesce(sum(case when nps <= 6 then 1 else 0 end), 0) as detractors,
    count(csat) as csat_answers,
    coalesce(sum(case when csat >= 4 then 1 else 0 end), 0) as satisfied,
    coalesce(sum(csat), 0) as csat_total,
    coalesce(sum(case when complaint then 1 else 0 end), 0) as complaints
from answers
group by customer_id, survey
order by customer_id, survey
