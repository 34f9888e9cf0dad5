-- One row per customer in scope with orders in [$start, $end]: the number of
-- orders (the after-service questionnaire follows each job, so orders stand in
-- for "customers asked" in its response rate by segment), the customer's
-- attributes ('(unknown)' when missing). The segments page's labels (value
-- grid cell, RFM segment) are joined in customer_value/satisfaction.py.
-- Parameters: $start, $end.
with period_orders as (
    select customer_days.customer_id, sum(customer_days.orders) as orders
    from customer_days
    inner join scoped_customers on scoped_customers.customer_key = customer_days.customer_key
    where customer_days.day between $start and $end
    group by customer_days.customer_id
)

select
    period_orders.customer_id,
    period_orders.orders,
    coalesce(scoped_customers.customer_type, '(unknown)') as customer_type,
    coalesce(scoped_customers.region, '(unknown)') as region,
    coalesce(scoped_customers.sales_rep, '(unknown)') as sales_rep
from period_orders
inner join scoped_customers on scoped_customers.customer_id = period_orders.customer_id
where period_orders.orders > 0
order by period_orders.customer_id
