-- Builds the temporary table scope_allowed_groups: one row per attribute_group (a
-- customer type, region and sales rep; see customer_dim.sql) whose customers
-- the current filters and the user's row scope allow. The view
-- scoped_customers_of_groups.sql then lists those groups' customers. Every page
-- query joins that view; none filters by attribute itself, so scope is
-- enforced in one place (customer_value/query.py).
-- The filters and the scope choose customers by these three attributes only, so
-- the groups say exactly who is in scope; a table of the customers themselves,
-- every column copied, took a fifth of a second at 500,000 customers (seconds at
-- five million) on every filter change, where a few hundred groups take a scan.
-- Missing attributes count as '(unknown)' so they can be chosen in a filter.
-- Parameters: $customer_types, $regions, $sales_reps (lists; empty = all),
-- $restrict_regions (true when the user's scope limits regions, so that an
-- empty allowed list means no rows rather than all rows).
-- list_contains is DuckDB's name; SQLGlot maps it to array_contains on Spark.
create or replace temp table scope_allowed_groups as
select distinct attribute_group
from customer_summary
where
    (len($customer_types) = 0
        or list_contains($customer_types, coalesce(customer_type, '(unknown)')))
    and ((len($regions) = 0 and not $restrict_regions)
        or list_contains($regions, coalesce(region, '(unknown)')))
    and (len($sales_reps) = 0
        or list_contains($sales_reps, coalesce(sales_rep, '(unknown)')))
