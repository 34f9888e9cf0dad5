-- One row per customer in scope who bought in [$start, $end] (at least one
-- purchase day: a non-cancelled line with positive revenue; a customer with
-- only cancellations or returns in the period is not here): attributes, the
-- period's net revenue (returns and cancellations deducted), gross profit
-- over the lines that carry a cost, orders, purchase days, first and last
-- purchase day in the period, first purchase ever, the contract end, and the
-- customer's NPS answers dated in the period (count, sum, promoters 9-10,
-- detractors 0-6; summed per grid cell without a second customer-level join).
-- The segment grids, RFM scores and clusters of customer_value/segments.py
-- are computed from these rows.
-- Parameters: $start, $end, $all_customers (set by query.py).
with period_totals as (
    select
        customer_days.customer_key,
        sum(customer_days.revenue) as revenue,
        sum(customer_days.profit) as profit,
        sum(customer_days.lines_with_profit) as lines_with_profit,
        sum(customer_days.orders) as orders,
        sum(case when customer_days.is_purchase then 1 else 0 end) as purchase_days,
        min(case when customer_days.is_purchase then customer_days.day end) as first_purchase_in_period,
        max(case when customer_days.is_purchase then customer_days.day end) as last_purchase_date
    from customer_days
    where
        customer_days.day between $start and $end
        -- Nobody is filtered out when $all_customers: skip the scope join (DuckDB folds the constant).
        and ($all_customers or customer_days.customer_key in (
            select scoped_customers.customer_key from scoped_customers where not $all_customers
        ))
    group by customer_days.customer_key
),

period_answers as (
    select
        feedback.customer_id,
        count(feedback.nps) as nps_answers,
        sum(feedback.nps) as nps_sum,
        sum(case when feedback.nps >= 9 then 1 else 0 end) as promoters,
        sum(case when feedback.nps <= 6 then 1 else 0 end) as detractors
    from feedback
    where feedback.response_date between $start and $end
    group by feedback.customer_id
)

select
    scoped_customers.customer_id,
    coalesce(scoped_customers.name, scoped_customers.customer_id) as name,
    coalesce(scoped_customers.customer_type, '(unknown)') as customer_type,
    coalesce(scoped_customers.region, '(unknown)') as region,
    coalesce(scoped_customers.sales_rep, '(unknown)') as sales_rep,
    coalesce(scoped_customers.acquisition_channel, '(unknown)') as acquisition_channel,
    period_totals.revenue,
    period_totals.profit,
    period_totals.lines_with_profit,
    period_totals.orders,
    period_totals.purchase_days,
    period_totals.first_purchase_in_period,
    period_totals.last_purchase_date,
    scoped_customers.first_purchase_date,
    scoped_customers.churn_date,
    coalesce(period_answers.nps_answers, 0) as nps_answers,
    coalesce(period_answers.nps_sum, 0) as nps_sum,
    coalesce(period_answers.promoters, 0) as promoters,
    coalesce(period_answers.detractors, 0) as detractors
from period_totals
inner join scoped_customers on scoped_customers.customer_key = period_totals.customer_key
left join period_answers on period_answers.customer_id = scoped_customers.customer_id
where period_totals.purchase_days > 0
order by scoped_customers.customer_id
