-- One row per customer in scope among $customer_keys: id, name and the
-- attributes a follow-up list shows ('(unknown)' when missing).
-- Parameters: $customer_keys (a list).
select
    customer_key,
    customer_id,
    name,
    coalesce(customer_type, '(unknown)') as customer_type,
    coalesce(region, '(unknown)') as region,
    coalesce(sales_rep, '(unknown)') as sales_rep
from scoped_customers
-- unnest turns the bound list into rows (DuckDB; Spark: explode).
where customer_key in (select unnest($customer_keys))
