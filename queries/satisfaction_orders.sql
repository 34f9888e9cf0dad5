-- One row per month of [$start, $end] with any order of a customer in scope:
-- the number of orders, the denominator of the after-service questionnaire's
-- response rate (one questionnaire follows each job, so orders stand in for
-- "customers asked").
-- Parameters: $start, $end.
select
    cast(date_trunc('month', customer_days.day) as date) as month,
    sum(customer_days.orders) as orders
from customer_days
inner join scoped_customers on scoped_customers.customer_key = customer_days.customer_key
where customer_days.day between $start and $end
group by cast(date_trunc('month', customer_days.day) as date)
order by month
