-- One row per customer and calendar month with revenue, over all the data and
-- every customer: what customer_value.derive builds the retention_cells table
-- from at load time. The columns of retention_revenue.sql; no scope, because
-- that table is read only when neither the filters nor the user's scope leave
-- a customer out (a load runs outside any user's session).
-- Parameters: none.
select
    customer_key,
    cast(extract(year from month) * 12 + extract(month from month) as integer) as month_number,
    cast(revenue * 100 as double) as revenue_cents
from customer_month
order by month_number
