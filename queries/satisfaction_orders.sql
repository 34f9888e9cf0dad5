-- One row per month of [$start, $end] with any order of a customer in scope:
-- the number of orders, the denominator of the after-service questionnaire's
-- response rate (one questionnaire follows each job, so orders stand in for
-- "customers asked").
-- Parameters: $start, $end, $all_customers (set by query.py).
select
    cast(date_trunc('month', customer_days.day) as date) as month,
    sum(customer_days.orders) as orders
from customer_days
where
    customer_days.day between $start and $end
    -- Nobody is filtered out when $all_customers: the scope subquery is skipped (DuckDB folds the constant).
    and ($all_customers or customer_days.customer_key in (
        select scoped_customers.customer_key from scoped_customers where not $all_customers
    ))
group by cast(date_trunc('month', customer_days.day) as date)
order by month
