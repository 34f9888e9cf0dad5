-- One row per customer in scope with at least one purchase day on or before
-- $cut (purchase days on or after their churn_date ignored, as in the activity
-- rule of spell_events.sql): behaviour, satisfaction and attributes as known on
-- $cut, for the early-warning model and the unusual-customer detector.
--   recent window  = the W days ending on $cut, (cut - W, cut];
--   earlier window = the 365 days before it, (cut - W - 365, cut - W];
--   earlier_days   = how many days of the earlier window the customer existed
--                    (from the first purchase), so a young customer's earlier
--                    rate is not diluted by days before they arrived.
-- is_active: active on $cut (a purchase in (cut - W, cut], churn_date after cut).
-- lost_next_window: for customers active on $cut, whether they became inactive
-- in (cut, cut + W]: their churn_date falls in it, or no purchase followed the
-- last one within W days (then they lapse on last purchase + W <= cut + W).
-- Null when cut + W is after $as_of (the outcome is not known yet) or the
-- customer is not active on $cut.
-- DuckDB adds whole days to a date with + and -, as Spark's date_add/date_sub do.
-- Grouped by the integer customer_key and joined to names once, at the end: grouping
-- 7 million day rows by the text id, and joining them back to find the last
-- purchase's successor, cost a fifth of the 5 s this query took at 10 million lines.
-- $active_only keeps only the customers active on $cut: a past cut's rows train the model, which learns
-- from those alone, and the rest were 40% of the rows sent to Python.
-- Parameters: $cut, $window_days (W), $as_of, $active_only, $all_customers (set by query.py).
with scoped_days as (
    select
        customer_key,
        day,
        revenue,
        profit,
        lines_with_profit,
        orders,
        cancelled_revenue,
        prev_purchase_date,
        next_purchase_date,
        churn_date,
        is_purchase and (churn_date is null or day < churn_date) as counts_as_purchase,
        day > cast($cut as date) - cast($window_days as integer) as in_recent,
        day <= cast($cut as date) - cast($window_days as integer)
        and day > cast($cut as date) - cast($window_days as integer) - 365 as in_earlier
    from customer_days
    where
        day <= $cut
        -- Nobody is filtered out when $all_customers: skip the scope join (DuckDB folds the constant).
        and ($all_customers or customer_key in (
            select scoped_customers.customer_key from scoped_customers where not $all_customers
        ))
),

behaviour as (
    select
        customer_key,
        min(case when counts_as_purchase then day end) as first_purchase_date,
        max(case when counts_as_purchase then day end) as last_purchase_date,
        -- The last purchase day on or before $cut is the one whose next purchase (if any) falls after $cut:
        -- its next_purchase_date, read here, saves joining the day rows back to their customer's maximum.
        -- (For a customer whose churn date passed, no row may qualify; they are not active and unlabelled.)
        min(case when counts_as_purchase and next_purchase_date > $cut then next_purchase_date end)
            as next_purchase_date,
        sum(case when counts_as_purchase then 1 else 0 end) as purchase_days,
        sum(case when counts_as_purchase and day > cast($cut as date) - 365 then 1 else 0 end)
            as purchase_days_last_year,
        sum(revenue) as revenue_total,
        sum(case when day > cast($cut as date) - 365 then revenue else 0 end) as revenue_last_year,
        sum(case when lines_with_profit > 0 then profit else 0 end) as profit_total,
        sum(case when lines_with_profit > 0 then revenue else 0 end) as revenue_with_cost,
        sum(case when in_recent then revenue else 0 end) as revenue_recent,
        sum(case when in_earlier then revenue else 0 end) as revenue_earlier,
        sum(case when in_recent then orders else 0 end) as orders_recent,
        sum(case when in_earlier then orders else 0 end) as orders_earlier,
        sum(orders) as orders_total,
        sum(case when in_recent and lines_with_profit > 0 then profit else 0 end) as profit_recent,
        sum(case when in_recent and lines_with_profit > 0 then revenue else 0 end) as revenue_with_cost_recent,
        sum(case when in_earlier and lines_with_profit > 0 then profit else 0 end) as profit_earlier,
        sum(case when in_earlier and lines_with_profit > 0 then revenue else 0 end) as revenue_with_cost_earlier,
        sum(case when in_recent then cancelled_revenue else 0 end) as cancelled_recent,
        sum(case when in_earlier then cancelled_revenue else 0 end) as cancelled_earlier,
        max(churn_date) as churn_date
    from scoped_days
    group by customer_key
),

purchase_gaps as (
    select customer_key, datediff('day', prev_purchase_date, day) as gap_days
    from scoped_days
    where counts_as_purchase and prev_purchase_date is not null
),

ranked_gaps as (
    select
        customer_key,
        gap_days,
        row_number() over (partition by customer_key order by gap_days) as gap_rank,
        count(*) over (partition by customer_key) as gap_count
    from purchase_gaps
),

median_gaps as (
    -- The middle gap, or the mean of the two middle gaps when their number is even (as percentile_cont(0.5)).
    -- A sort by window, not percentile_cont grouped by customer: at 100 million lines that holistic aggregate
    -- spilled more than 67 GB to disk for one cut (and failed for lack of space); the window spills its sort.
    select customer_key, avg(gap_days) as median_gap_days
    from ranked_gaps
    where gap_rank in (floor((gap_count + 1) / 2), floor((gap_count + 2) / 2))
    group by customer_key
),

latest_scores as (
    -- The latest answer carrying each score (latest response date, then highest feedback id). arg_max is
    -- DuckDB's name (SQLGlot writes Spark's max_by); an aggregate, where row_number() over each customer's
    -- answers sorted 1.3 million rows by customer id twice.
    select
        customer_id,
        arg_max(csat, struct_pack(response_date := response_date, feedback_id := feedback_id))
            filter (where csat is not null) as last_csat,
        arg_max(nps, struct_pack(response_date := response_date, feedback_id := feedback_id))
            filter (where nps is not null) as last_nps
    from feedback
    where response_date <= $cut
    group by customer_id
),

complaints as (
    select
        feedback.customer_id,
        sum(case when feedback.resolved_date is null or feedback.resolved_date > $cut then 1 else 0 end)
            as open_complaints,
        sum(case when feedback.response_date > cast($cut as date) - 365 then 1 else 0 end)
            as complaints_last_year
    from feedback
    where feedback.complaint and feedback.response_date <= $cut
    group by feedback.customer_id
),

flagged as (
    select
        behaviour.*,
        median_gaps.median_gap_days,
        datediff('day', behaviour.last_purchase_date, cast($cut as date)) as recency_days,
        datediff('day', behaviour.first_purchase_date, cast($cut as date)) as tenure_days,
        greatest(0, least(365, datediff('day', behaviour.first_purchase_date,
            cast($cut as date) - cast($window_days as integer)) + 1)) as earlier_days,
        datediff('day', behaviour.last_purchase_date, cast($cut as date)) < $window_days
        and (behaviour.churn_date is null or behaviour.churn_date > $cut) as is_active
    from behaviour
    left join median_gaps on median_gaps.customer_key = behaviour.customer_key
    where behaviour.last_purchase_date is not null
)

select
    customer_dim.customer_id,
    customer_dim.name,
    coalesce(customer_dim.customer_type, '(unknown)') as customer_type,
    coalesce(customer_dim.region, '(unknown)') as region,
    coalesce(customer_dim.sales_rep, '(unknown)') as sales_rep,
    flagged.first_purchase_date,
    flagged.last_purchase_date,
    flagged.recency_days,
    flagged.tenure_days,
    flagged.earlier_days,
    flagged.purchase_days,
    flagged.purchase_days_last_year,
    flagged.median_gap_days,
    flagged.revenue_total,
    flagged.revenue_last_year,
    flagged.profit_total,
    flagged.revenue_with_cost,
    flagged.revenue_recent,
    flagged.revenue_earlier,
    flagged.orders_total,
    flagged.orders_recent,
    flagged.orders_earlier,
    flagged.profit_recent,
    flagged.revenue_with_cost_recent,
    flagged.profit_earlier,
    flagged.revenue_with_cost_earlier,
    flagged.cancelled_recent,
    flagged.cancelled_earlier,
    latest_scores.last_csat,
    latest_scores.last_nps,
    coalesce(complaints.open_complaints, 0) as open_complaints,
    coalesce(complaints.complaints_last_year, 0) as complaints_last_year,
    flagged.churn_date,
    flagged.is_active,
    case
        when not flagged.is_active or cast($cut as date) + cast($window_days as integer) > $as_of then null
        when flagged.churn_date is not null
            and flagged.churn_date <= cast($cut as date) + cast($window_days as integer) then true
        else flagged.next_purchase_date is null
            or datediff('day', flagged.last_purchase_date, flagged.next_purchase_date) > $window_days
    end as lost_next_window
from flagged
inner join customer_dim on customer_dim.customer_key = flagged.customer_key
left join latest_scores on latest_scores.customer_id = customer_dim.customer_id
left join complaints on complaints.customer_id = customer_dim.customer_id
where not $active_only or flagged.is_active
order by customer_dim.customer_id
