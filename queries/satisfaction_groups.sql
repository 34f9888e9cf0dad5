-- One row per survey x group of the answers of customers in scope dated in
-- [$start, $end]: answer counts, NPS and CSAT counts, complaints.
-- Groups (dimension, group_value): ('total', 'All'), ('month', first day of the
-- month), ('customer_type' | 'region' | 'sales_rep', the attribute or
-- '(unknown)'). Groupings by the segments page's labels (value grid cell, RFM
-- segment) are summed from satisfaction_customer_answers in
-- customer_value/satisfaction.py, so that both pages use one definition.
-- survey is the feedback row's survey in lower case ('service', 'annual', ...),
-- '(unspecified)' when blank, and 'all' for every survey together (complaint
-- rates use it).
-- Scores outside the scales (NPS 0-10, CSAT 1-5) count as not given: the loader
-- rejects them, and a row that slipped in another way must not shift a score.
-- Every answer counts, so a customer who answered twice counts twice.
-- customers (distinct answering customers) is counted for the customer_type,
-- region and sales_rep groups, whose segment tables show it, and is null for
-- 'total' and 'month', which nothing shows: counting them took about 40% of
-- this query's time and a quarter of the satisfaction page's first tab at 10M.
-- It is counted apart from the other figures (answering_customers), so a
-- request without those dimensions does not pay for a distinct count at all.
-- Complaints are open when not resolved by $as_of; time to resolve is over
-- complaints resolved by $as_of.
-- $dimensions lists the dimensions wanted ('total', 'month', ...): a comparison
-- with the previous period needs only 'total', which is far cheaper.
-- Parameters: $start, $end, $as_of, $dimensions, $all_customers (set by query.py).
with answers as (
    select
        feedback.customer_id,
        coalesce(nullif(lower(trim(feedback.survey)), ''), '(unspecified)') as survey,
        case when feedback.nps between 0 and 10 then feedback.nps end as nps,
        case when feedback.csat between 1 and 5 then feedback.csat end as csat,
        feedback.complaint,
        case when feedback.complaint and feedback.resolved_date <= $as_of
            then datediff('day', feedback.response_date, feedback.resolved_date) end as days_to_resolve,
        feedback.complaint and (feedback.resolved_date is null or feedback.resolved_date > $as_of) as is_open,
        cast(date_trunc('month', feedback.response_date) as date) as month
    from feedback
    where
        feedback.response_date between $start and $end
        -- Every answering id is a customer (customer_dim lists the ids of feedback too), so when nobody is
        -- filtered out ($all_customers, set by query.py) only answers without an id are left out, and the
        -- join to scoped_customers is skipped (DuckDB folds the constant).
        and feedback.customer_id is not null
        and ($all_customers or feedback.customer_id in (
            select scoped_customers.customer_id from scoped_customers where not $all_customers
        ))
),

attributed_answers as (
    -- The customers' attributes, joined only for the dimensions that group by them (see grouped_answers).
    select
        answers.*,
        coalesce(scoped_customers.customer_type, '(unknown)') as customer_type,
        coalesce(scoped_customers.region, '(unknown)') as region,
        coalesce(scoped_customers.sales_rep, '(unknown)') as sales_rep
    from answers
    inner join scoped_customers on scoped_customers.customer_id = answers.customer_id
),

grouped_answers as (
    -- list_contains is DuckDB's name; SQLGlot maps it to array_contains on Spark. A branch whose dimension
    -- is not wanted is false from the bound parameter alone, so it (and its join) is never run.
    select answers.*, 'total' as dimension, 'All' as group_value from answers
    where list_contains($dimensions, 'total')
    union all
    select answers.*, 'month' as dimension, cast(month as varchar) as group_value from answers
    where list_contains($dimensions, 'month')
    union all
    select attributed_answers.* exclude (customer_type, region, sales_rep),  -- DuckDB's exclude
        'customer_type' as dimension, customer_type as group_value
    from attributed_answers
    where list_contains($dimensions, 'customer_type')
    union all
    select attributed_answers.* exclude (customer_type, region, sales_rep),
        'region' as dimension, region as group_value
    from attributed_answers
    where list_contains($dimensions, 'region')
    union all
    select attributed_answers.* exclude (customer_type, region, sales_rep),
        'sales_rep' as dimension, sales_rep as group_value
    from attributed_answers
    where list_contains($dimensions, 'sales_rep')
),

answering_customers as (
    -- Apart from the counts (see the header): with no attribute dimension wanted this has no rows to group.
    select
        case when grouping(survey) = 1 then 'all' else survey end as survey,
        -- Kept to match the two aggregates' rows: a survey whose own name is 'all' has the same label.
        grouping(survey) as every_survey,
        dimension,
        group_value,
        count(distinct customer_id) as customers
    from grouped_answers
    where dimension not in ('total', 'month')
    group by grouping sets ((survey, dimension, group_value), (dimension, group_value))
),

answer_counts as (
    select
        case when grouping(survey) = 1 then 'all' else survey end as survey,
        grouping(survey) as every_survey,
        dimension,
        group_value,
        count(*) as answers,
        count(nps) as nps_answers,
        coalesce(sum(case when nps >= 9 then 1 else 0 end), 0) as promoters,
        coalesce(sum(case when nps between 7 and 8 then 1 else 0 end), 0) as passives,
        coalesce(sum(case when nps <= 6 then 1 else 0 end), 0) as detractors,
        count(csat) as csat_answers,
        coalesce(sum(case when csat >= 4 then 1 else 0 end), 0) as satisfied,
        coalesce(sum(csat), 0) as csat_total,
        coalesce(sum(case when complaint then 1 else 0 end), 0) as complaints,
        coalesce(sum(case when is_open then 1 else 0 end), 0) as open_complaints,
        count(days_to_resolve) as resolved_complaints,
        percentile_cont(0.5) within group (order by days_to_resolve) as median_days_to_resolve
    from grouped_answers
    group by grouping sets ((survey, dimension, group_value), (dimension, group_value))
)

select
    answer_counts.survey,
    answer_counts.dimension,
    answer_counts.group_value,
    answer_counts.answers,
    answering_customers.customers,
    answer_counts.nps_answers,
    answer_counts.promoters,
    answer_counts.passives,
    answer_counts.detractors,
    answer_counts.csat_answers,
    answer_counts.satisfied,
    answer_counts.csat_total,
    answer_counts.complaints,
    answer_counts.open_complaints,
    answer_counts.resolved_complaints,
    answer_counts.median_days_to_resolve
from answer_counts
left join answering_customers
    on answering_customers.every_survey = answer_counts.every_survey
    and answering_customers.survey = answer_counts.survey
    and answering_customers.dimension = answer_counts.dimension
    and answering_customers.group_value = answer_counts.group_value
order by answer_counts.survey, answer_counts.every_survey, answer_counts.dimension, answer_counts.group_value
