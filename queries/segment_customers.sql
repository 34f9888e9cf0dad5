-- One row per customer in scope who bought in [$start, $end] (at least one
-- purchase day: a non-cancelled line with positive revenue; a customer with
-- only cancellations or returns in the period is not here): attributes, the
-- period's net revenue (returns and cancellations deducted), gross profit
-- over the lines that carry a cost, orders, purchase days, first and last
-- purchase day in the period, first purchase ever, and the contract end.
-- The segment grids, RFM scores and clusters of customer_value/segments.py
-- are computed from these rows.
-- Parameters: $start, $end.
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
    inner join scoped_customers on scoped_customers.customer_key = customer_days.customer_key
    where customer_days.day between $start and $end
    group by customer_days.customer_key
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
    scoped_customers.churn_date
from period_totals
inner join scoped_customers on scoped_customers.customer_key = period_totals.customer_key
where period_totals.purchase_days > 0
order by scoped_customers.customer_id
