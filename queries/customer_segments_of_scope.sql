-- One row per customer in scope: the attributes revenue retention is split by
-- (missing ones as '(unknown)', as the sidebar filters name them).
-- Parameters: none.
select
    customer_key,
    coalesce(customer_type, '(unknown)') as customer_type,
    coalesce(region, '(unknown)') as region
from scoped_customers
