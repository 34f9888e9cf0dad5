-- Building block satisfaction_customer_value: one row per customer in scope
-- with positive net revenue in [$start, $end]: period revenue, gross profit,
-- orders and the value grid cell of the domain brief (section 2), kept cheap:
--   volume class A = the smallest set of top customers by period revenue that
--     together make 80% of it (Pareto); B = the rest;
--   margin class A = gross profit per order above the median across these
--     customers; B otherwise; unknown when no line of theirs carries a cost.
-- Customers absent here bought nothing (net) in the period.
-- Parameters: $start, $end.
with period_totals as (
    select
        customer_days.customer_id,
        sum(customer_days.revenue) as period_revenue,
        sum(customer_days.profit) as period_profit,
        sum(customer_days.lines_with_profit) as lines_with_profit,
        sum(customer_days.orders) as period_orders
    from customer_days
    inner join scoped_customers on scoped_customers.customer_key = customer_days.customer_key
    where customer_days.day between $start and $end
    group by customer_days.customer_id
),

ranked as (
    select
        customer_id,
        period_revenue,
        period_profit,
        period_orders,
        -- Revenue of every customer ranked above this one; ties broken by id so the class is deterministic.
        coalesce(sum(period_revenue) over (
            order by period_revenue desc, customer_id rows between unbounded preceding and 1 preceding
        ), 0) as revenue_above,
        sum(period_revenue) over () as total_revenue,
        case
            when lines_with_profit > 0 and period_orders > 0 then period_profit / period_orders
        end as profit_per_order
    from period_totals
    where period_revenue > 0
),

margin_threshold as (
    select percentile_cont(0.5) within group (order by profit_per_order) as median_profit_per_order
    from ranked
),

classed as (
    select
        ranked.*,
        case when ranked.revenue_above < 0.8 * ranked.total_revenue then 'A' else 'B' end as volume_class,
        case
            when ranked.profit_per_order is null then null
            when ranked.profit_per_order > margin_threshold.median_profit_per_order then 'A'
            else 'B'
        end as margin_class
    from ranked
    cross join margin_threshold
)

select
    customer_id,
    period_revenue,
    period_profit,
    period_orders,
    volume_class,
    margin_class,
    case
        when margin_class is null then volume_class || ' (margin unknown)'
        else volume_class || margin_class
    end as value_cell
from classed
