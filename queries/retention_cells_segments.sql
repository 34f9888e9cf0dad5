-- One row per customer: the attributes revenue retention is split by, for the
-- retention_cells table built at load time (customer_segments_of_scope.sql for
-- every customer, read from customer_summary as scoped_customers is).
-- Parameters: none.
select
    customer_key,
    coalesce(customer_type, '(unknown)') as customer_type,
    coalesce(region, '(unknown)') as region
from customer_summary
