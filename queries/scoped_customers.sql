-- Builds the temporary table scoped_customers: one row per customer the
-- current filters and the user's row scope allow, with every column of
-- customer_summary. Every page query joins it; none filters by attribute
-- itself, so scope is enforced in one place (customer_value/query.py).
-- Missing attributes count as '(unknown)' so they can be chosen in a filter.
-- Parameters: $customer_types, $regions, $sales_reps (lists; empty = all),
-- $restrict_regions (true when the user's scope limits regions, so that an
-- empty allowed list means no rows rather than all rows).
-- list_contains is DuckDB's name; SQLGlot maps it to array_contains on Spark.
create or replace temp table scoped_customers as
select *
from customer_summary
where
    (len($customer_types) = 0
        or list_contains($customer_types, coalesce(customer_type, '(unknown)')))
    and ((len($regions) = 0 and not $restrict_regions)
        or list_contains($regions, coalesce(region, '(unknown)')))
    and (len($sales_reps) = 0
        or list_contains($sales_reps, coalesce(sales_rep, '(unknown)')))
