-- One row per customer whose customer_key is in $customer_keys: that key and
-- the customer's id. For the few rows where a list of numbered customers must
-- be ordered by id (equal revenues at the Pareto boundary or a line of the
-- pyramid, segments._ties_in_id_order).
-- Parameters: $customer_keys (a list of customer_key).
select
    customer_dim.customer_key,
    customer_dim.customer_id
from customer_dim
-- DuckDB's unnest turns the bound list into rows; on Spark, explode.
where customer_dim.customer_key in (select unnest($customer_keys))
