-- Builds the temporary view scoped_customers when neither the filters nor the
-- user's row scope leave any customer out: one row per customer, every column
-- of customer_summary. customer_value/query.py picks this file, or
-- scope_allowed_groups.sql and scoped_customers_of_groups.sql when customers
-- are left out.
-- Parameters: none.
create or replace temp view scoped_customers as
select *
from customer_summary
