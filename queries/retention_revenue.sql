-- One row per customer in scope and calendar month with revenue, from 23
-- months before $start's month to $end: what net and gross revenue retention
-- over 12 months are computed from (customer_value.movements.retention_table
-- slides the two 12-month windows over these rows). month_number = year * 12
-- + month, so that month arithmetic is integer arithmetic; rows come in month
-- order. Revenue in whole cents, as double: the windows are sums, which whole
-- cents keep exact, where DECIMAL(38,2) sums cost 128-bit arithmetic (and
-- scaling in numpy cost two passes over millions of rows).
-- Parameters: $start, $end, $all_customers (set by query.py).
select
    customer_month.customer_key,
    cast(extract(year from customer_month.month) * 12 + extract(month from customer_month.month) as integer)
        as month_number,
    cast(customer_month.revenue * 100 as double) as revenue_cents
from customer_month
where
    -- Nobody is filtered out when $all_customers: the scope subquery is skipped (DuckDB folds the
    -- constant); a join to every customer costs more than it filters.
    (customer_month.customer_key in (
        select scoped_customers.customer_key from scoped_customers where not $all_customers
    ) or $all_customers)
    and
    customer_month.month >= cast(cast(date_trunc('month', cast($start as date)) as date) - interval 23 month as date)
    and customer_month.month <= $end
order by month_number
