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
-- Parameters: $cut, $window_days (W), $as_of.
with scoped_days as (
    select
        customer_days.customer_id,
        customer_days.day,
        customer_days.revenue,
        customer_days.profit,
        customer_days.lines_with_profit,
        customer_days.orders,
        customer_days.cancelled_revenue,
        customer_days.prev_purchase_date,
        customer_days.next_purchase_date,
        scoped_customers.churn_date,
        customer_days.is_purchase
        and (scoped_customers.churn_date is null or customer_days.day < scoped_customers.churn_date)
            as counts_as_purchase,
        customer_days.day > cast($cut as date) - cast($window_days as integer) as in_recent,
        customer_days.day <= cast($cut as date) - cast($window_days as integer)
        and customer_days.day > cast($cut as date) - cast($window_days as integer) - 365 as in_earlier
    from customer_days
    inner join scoped_customers on scoped_customers.customer_key = customer_days.customer_key
    where customer_days.day <= $cut
),

behaviour as (
    select
        customer_id,
        min(case when counts_as_purchase then day end) as first_purchase_date,
        max(case when counts_as_purchase then day end) as last_purchase_date,
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
        percentile_cont(0.5) within group (order by case
            when counts_as_purchase and prev_purchase_date is not null
                then datediff('day', prev_purchase_date, day) end) as median_gap_days,
        max(churn_date) as churn_date
    from scoped_days
    group by customer_id
),

last_purchase as (
    select scoped_days.customer_id, scoped_days.next_purchase_date
    from scoped_days
    inner join behaviour
        on behaviour.customer_id = scoped_days.customer_id
        and behaviour.last_purchase_date = scoped_days.day
),

answers as (
    select
        feedback.customer_id,
        feedback.csat,
        feedback.nps,
        row_number() over (partition by feedback.customer_id
            order by case when feedback.csat is null then 1 else 0 end, feedback.response_date desc,
                feedback.feedback_id desc) as csat_rank,
        row_number() over (partition by feedback.customer_id
            order by case when feedback.nps is null then 1 else 0 end, feedback.response_date desc,
                feedback.feedback_id desc) as nps_rank
    from feedback
    inner join scoped_customers on scoped_customers.customer_id = feedback.customer_id
    where feedback.response_date <= $cut
),

latest_scores as (
    select
        customer_id,
        max(case when csat_rank = 1 then csat end) as last_csat,
        max(case when nps_rank = 1 then nps end) as last_nps
    from answers
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
    inner join scoped_customers on scoped_customers.customer_id = feedback.customer_id
    where feedback.complaint and feedback.response_date <= $cut
    group by feedback.customer_id
),

flagged as (
    select
        behaviour.*,
        datediff('day', behaviour.last_purchase_date, cast($cut as date)) as recency_days,
        datediff('day', behaviour.first_purchase_date, cast($cut as date)) as tenure_days,
        greatest(0, least(365, datediff('day', behaviour.first_purchase_date,
            cast($cut as date) - cast($window_days as integer)) + 1)) as earlier_days,
        datediff('day', behaviour.last_purchase_date, cast($cut as date)) < $window_days
        and (behaviour.churn_date is null or behaviour.churn_date > $cut) as is_active,
        last_purchase.next_purchase_date
    from behaviour
    left join last_purchase on last_purchase.customer_id = behaviour.customer_id
    where behaviour.last_purchase_date is not null
)

select
    flagged.customer_id,
    scoped_customers.name,
    coalesce(scoped_customers.customer_type, '(unknown)') as customer_type,
    coalesce(scoped_customers.region, '(unknown)') as region,
    coalesce(scoped_customers.sales_rep, '(unknown)') as sales_rep,
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
inner join scoped_customers on scoped_customers.customer_id = flagged.customer_id
left join latest_scores on latest_scores.customer_id = flagged.customer_id
left join complaints on complaints.customer_id = flagged.customer_id
order by flagged.customer_id
