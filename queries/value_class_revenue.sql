-- One row per customer in scope and calendar month with any transaction, from
-- 3 months before $start's month to $end: revenue, gross profit, lines with a
-- cost and orders, what the monthly value x margin cells of value churn are
-- computed from (customer_value.movements.value_slides sums the trailing 3
-- months of each month). month_number = year * 12 + month; rows come in month
-- order; money as double (sums only).
-- Parameters: $start, $end, $all_customers (set by query.py).
select
    customer_month.customer_key,
    cast(extract(year from customer_month.month) * 12 + extract(month from customer_month.month) as integer)
        as month_number,
    cast(customer_month.revenue as double) as revenue,
    cast(coalesce(customer_month.profit, 0) as double) as profit,
    customer_month.lines_with_profit,
    customer_month.orders
from customer_month
where
    -- Nobody is filtered out when $all_customers: the scope subquery is skipped (DuckDB folds the
    -- constant); a join to every customer costs more than it filters.
    (customer_month.customer_key in (
        select scoped_customers.customer_key from scoped_customers where not $all_customers
    ) or $all_customers)
    and
    customer_month.month >= cast(cast(date_trunc('month', cast($start as date)) as date) - interval 3 month as date)
    and customer_month.month <= $end
order by month_number
