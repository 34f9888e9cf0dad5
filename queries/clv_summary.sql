-- One row per customer in scope with at least one purchase day on or before
-- $observation_end, by customer_key: the lifetime-value literature's summary
-- (lifetimes' summary_data_from_transaction_data, purchases counted per day):
-- frequency = purchase days - 1 (repeat purchases), recency = first to last
-- purchase day, T = first purchase day to $observation_end, both in days /
-- $unit_days; monetary_value = mean revenue of the repeat purchase days (0
-- without repeats). A purchase day is a customer_days row with is_purchase;
-- its revenue is that day's net revenue. Names, attributes and the contract
-- end come from segment_customer_attributes.sql (customer_value/clv.py joins
-- them, in customer id order).
-- customer_value/clv_models.py summary_table computes the same from raw rows.
-- Parameters: $observation_end (DATE), $unit_days (1 for days, 7 for weeks),
-- $all_customers (set by query.py).
-- arg_min(value, key) is DuckDB's name for Spark's min_by: the first purchase
-- day's revenue, which is not a repeat purchase.
with per_customer as (
    select
        customer_days.customer_key,
        count(*) - 1 as frequency,
        min(customer_days.day) as first_purchase_date,
        max(customer_days.day) as last_purchase_date,
        sum(customer_days.revenue) - arg_min(customer_days.revenue, customer_days.day) as repeat_revenue
    from customer_days
    where
        customer_days.is_purchase
        and customer_days.day <= $observation_end
        -- Nobody is filtered out when $all_customers: skip the scope join (DuckDB folds the constant).
        and ($all_customers or customer_days.customer_key in (
            select scoped_customers.customer_key from scoped_customers where not $all_customers
        ))
    group by customer_days.customer_key
)

-- date_diff('day', a, b) is DuckDB's spelling; SQLGlot maps it to Spark's datediff.
select
    per_customer.customer_key,
    per_customer.first_purchase_date,
    per_customer.last_purchase_date,
    cast(per_customer.frequency as double) as frequency,
    cast(date_diff('day', per_customer.first_purchase_date, per_customer.last_purchase_date) as double)
        / $unit_days as recency,
    cast(date_diff('day', per_customer.first_purchase_date, cast($observation_end as date)) as double)
        / $unit_days as "T",
    case when per_customer.frequency > 0
        then cast(per_customer.repeat_revenue as double) / per_customer.frequency else 0 end as monetary_value
from per_customer
