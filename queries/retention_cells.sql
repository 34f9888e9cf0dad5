-- One row per month of the period, customer type, region and value class with
-- any base customer: net and gross revenue retention over 12 months, with every
-- customer counted, as customer_value.derive stored it at load time (the rows
-- customer_value.movements.retention_table computes from retention_revenue.sql).
-- customer_value.movements reads it only when nobody is filtered out; the value
-- class ranks the whole base, so a narrower scope is computed per request.
-- Parameters: $start (a month's first day), $end.
select
    month,
    customer_type,
    region,
    value_class,
    base_customers,
    retained_customers,
    base_revenue,
    current_revenue,
    retained_revenue
from retention_cells
where month >= $start and month <= $end
order by month, customer_type, region, value_class
