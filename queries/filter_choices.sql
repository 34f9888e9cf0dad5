-- One row per (attribute, value) a shared filter can offer: customer types,
-- regions and sales reps present in the data, '(unknown)' for missing values.
-- Parameters: none. Reads customer_dim directly: choices do not depend on scope
-- (query.py narrows regions to the user's scope when the page lists them).
select 'type' as attribute, coalesce(customer_type, '(unknown)') as value, count(*) as customers
from customer_dim group by 2
union all
select 'region', coalesce(region, '(unknown)'), count(*) from customer_dim group by 2
union all
select 'rep', coalesce(sales_rep, '(unknown)'), count(*) from customer_dim group by 2
order by attribute, value
