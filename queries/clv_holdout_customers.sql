-- One row per customer in scope who bought on or before $cut_date and again
-- after it, by $observation_end: customer_id and purchases = purchase days
-- (customer_days.is_purchase) in ($cut_date, $observation_end]. The hold-out
-- check of the lifetime-value model compares these with its predictions.
-- Parameters: $cut_date, $observation_end (DATEs).
select
    customer_days.customer_id,
    count(*) as purchases
from customer_days
inner join scoped_customers on scoped_customers.customer_key = customer_days.customer_key
where
    customer_days.is_purchase
    and customer_days.day > $cut_date
    and customer_days.day <= $observation_end
    and scoped_customers.first_purchase_date <= $cut_date
group by customer_days.customer_id
