-- Builds the temporary view scoped_customers when neither the filters nor the
-- user's row scope leave any customer out: one row per customer, every column
-- of customer_summary (the same rows scoped_customers.sql would copy, without
-- the copy). customer_value/query.py picks this file or scoped_customers.sql.
-- Parameters: none.
create or replace temp view scoped_customers as
select *
from customer_summary
