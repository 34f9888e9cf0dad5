-- One row per calendar month and acquisition channel x customer type x region:
-- the customers in scope whose first purchase ever fell in the month (within
-- [$start, $end]) and the value of that first purchase day (the first order:
-- its revenue in customer_days).
-- Parameters: $start, $end, $as_of.
select
    cast(date_trunc('month', customer_days.day) as date) as month,
    coalesce(scoped_customers.acquisition_channel, '(unknown)') as acquisition_channel,
    coalesce(scoped_customers.customer_type, '(unknown)') as customer_type,
    coalesce(scoped_customers.region, '(unknown)') as region,
    count(*) as new_customers,
    sum(customer_days.revenue) as first_order_value
from customer_days
inner join scoped_customers
    on scoped_customers.customer_key = customer_days.customer_key
    and scoped_customers.first_purchase_date = customer_days.day
where customer_days.day between $start and $end and customer_days.day <= $as_of
group by all
order by month, acquisition_channel, customer_type, region
