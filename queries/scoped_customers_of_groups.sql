-- Builds the temporary view scoped_customers when the filters or the user's row
-- scope leave customers out: one row per customer of the groups in
-- scope_allowed_groups (built by scope_allowed_groups.sql just before), every column of
-- customer_summary. A view, not a copy: each query reads customer_summary and
-- keeps the groups' customers, a hash probe of one integer per customer.
-- Parameters: none.
create or replace temp view scoped_customers as
select customer_summary.*
from customer_summary
where customer_summary.attribute_group in (
    select scope_allowed_groups.attribute_group from scope_allowed_groups
)
