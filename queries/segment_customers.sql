-- One row per customer in scope who bought in [$start, $end] (at least one
-- purchase day: a non-cancelled line with positive revenue; a customer with
-- only cancellations or returns in the period is not here), by customer_key:
-- the period's net revenue (returns and cancellations deducted), gross profit
-- over the lines that carry a cost, orders, purchase days, first and last
-- purchase day in the period, the contract end (churn_date, for the churn
-- flag of the grid), and the customer's NPS answers dated in the
-- period (count, sum, promoters 9-10, detractors 0-6; summed per grid cell
-- without a second customer-level join). Names and attributes come from
-- segment_customer_attributes.sql, which does not change with the period:
-- joining and sorting them here cost more than the aggregate itself.
-- The segment grids, RFM scores and clusters of customer_value/segments.py
-- are computed from these rows.
-- Parameters: $start, $end, $all_customers, $stored_period (both set by query.py).
with period_totals as (
    -- A period customer_periods holds (a period preset, $stored_period set by
    -- query.py) is read as the load summed it; any other is summed here, the
    -- same sums as models/customer_periods.sql (tests/test_derived.py checks
    -- that both give the same rows). DuckDB folds the bound constants, so only
    -- one branch runs.
    select
        customer_periods.customer_key,
        customer_periods.revenue,
        customer_periods.profit,
        customer_periods.lines_with_profit,
        customer_periods.orders,
        customer_periods.purchase_days,
        customer_periods.first_purchase_in_period,
        customer_periods.last_purchase_date,
        customer_periods.churn_date
    from customer_periods
    where
        $stored_period
        and customer_periods.period_start = $start
        and customer_periods.period_end = $end
        and ($all_customers or customer_periods.customer_key in (
            select scoped_customers.customer_key from scoped_customers where not $all_customers
        ))

    union all

    select
        customer_days.customer_key,
        sum(customer_days.revenue) as revenue,
        sum(customer_days.profit) as profit,
        sum(customer_days.lines_with_profit) as lines_with_profit,
        sum(customer_days.orders) as orders,
        sum(case when customer_days.is_purchase then 1 else 0 end) as purchase_days,
        min(case when customer_days.is_purchase then customer_days.day end) as first_purchase_in_period,
        max(case when customer_days.is_purchase then customer_days.day end) as last_purchase_date,
        -- The contract end, the same on every day row (customer_days copies it from customer_dim).
        max(customer_days.churn_date) as churn_date
    from customer_days
    where
        not $stored_period
        and customer_days.day between $start and $end
        -- Nobody is filtered out when $all_customers: skip the scope join (DuckDB folds the constant).
        and ($all_customers or customer_days.customer_key in (
            select scoped_customers.customer_key from scoped_customers where not $all_customers
        ))
    group by customer_days.customer_key
),

period_answers as (
    select
        answer_days.customer_key,
        sum(answer_days.nps_answers) as nps_answers,
        sum(answer_days.nps_sum) as nps_sum,
        sum(answer_days.promoters) as promoters,
        sum(answer_days.detractors) as detractors
    from answer_days
    where answer_days.response_date between $start and $end
    group by answer_days.customer_key
)

select
    period_totals.customer_key,
    period_totals.revenue,
    period_totals.profit,
    period_totals.lines_with_profit,
    period_totals.orders,
    period_totals.purchase_days,
    period_totals.first_purchase_in_period,
    period_totals.last_purchase_date,
    period_totals.churn_date,
    coalesce(period_answers.nps_answers, 0) as nps_answers,
    coalesce(period_answers.nps_sum, 0) as nps_sum,
    coalesce(period_answers.promoters, 0) as promoters,
    coalesce(period_answers.detractors, 0) as detractors
from period_totals
left join period_answers on period_answers.customer_key = period_totals.customer_key
where period_totals.purchase_days > 0
