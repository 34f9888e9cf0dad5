-- One row per day in ($cut_date, $observation_end] with purchases by customers
-- in scope who had bought on or before $cut_date: date and purchases (purchase
-- days, customer_days.is_purchase). The hold-out check's cumulative actual
-- curve.
-- Parameters: $cut_date, $observation_end (DATEs).
select
    customer_days.day as "date",
    count(*) as purchases
from customer_days
inner join scoped_customers on scoped_customers.customer_key = customer_days.customer_key
where
    customer_days.is_purchase
    and customer_days.day > $cut_date
    and customer_days.day <= $observation_end
    and scoped_customers.first_purchase_date <= $cut_date
group by customer_days.day
order by customer_days.day
