-- One row per customer in scope, in customer_id order: the name and
-- attributes the segment lists show ('(unknown)' when missing; the id when
-- the name is missing), the first purchase ever and the contract end.
-- segment_customers.sql gives the period's figures by customer_key; this
-- list does not depend on the period, so it is fetched once per data version
-- and scope and reused for every period, window and margin threshold.
-- Parameters: none (the scope and filters arrive through scoped_customers).
select
    scoped_customers.customer_key,
    scoped_customers.customer_id,
    coalesce(scoped_customers.name, scoped_customers.customer_id) as name,
    coalesce(scoped_customers.customer_type, '(unknown)') as customer_type,
    coalesce(scoped_customers.region, '(unknown)') as region,
    coalesce(scoped_customers.sales_rep, '(unknown)') as sales_rep,
    coalesce(scoped_customers.acquisition_channel, '(unknown)') as acquisition_channel,
    scoped_customers.first_purchase_date,
    scoped_customers.churn_date
from scoped_customers
order by scoped_customers.customer_id
