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
-- $whole_history (true when $observation_end is on or after the data's last
-- day: set by customer_value/clv.py), $all_customers (set by query.py).
-- A repeat purchase day is one with an earlier purchase day (prev_purchase_date).
with per_customer as (
    -- The whole history, the page's default: customer_summary's all-time figures,
    -- summed by the load, one row per customer instead of 2.6 million day rows at
    -- 10 million lines (tests/test_clv.py checks both paths give the same rows).
    -- DuckDB folds the bound constants, so only one branch runs.
    select
        scoped_customers.customer_key,
        scoped_customers.purchase_days - 1 as frequency,
        scoped_customers.first_purchase_date,
        scoped_customers.last_purchase_date,
        scoped_customers.repeat_purchase_revenue as repeat_revenue
    from scoped_customers
    where $whole_history and scoped_customers.purchase_days > 0

    union all

    -- Up to an earlier day (a hold-out's cut, a period ending before the data's
    -- last day): the purchase days on or before it. Every purchase day from the
    -- first one is read, so the one without an earlier purchase day is the first.
    select
        customer_days.customer_key,
        count(*) - 1 as frequency,
        min(customer_days.day) as first_purchase_date,
        max(customer_days.day) as last_purchase_date,
        sum(case when customer_days.prev_purchase_date is not null then customer_days.revenue end) as repeat_revenue
    from customer_days
    where
        not $whole_history
        and customer_days.is_purchase
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
