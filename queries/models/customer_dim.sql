-- Model customer_dim: one row per customer id known anywhere (customers file,
-- transactions, feedback), with the attributes of the newest customers batch
-- that mentions it. Attributes missing from every file stay null; pages show
-- them as "(unknown)". customer_key is a dense integer surrogate (by id order)
-- that the derived tables carry: joining 10 million rows on an integer is ten
-- times faster than on the text id.
-- attribute_group: the customer's type, region and sales rep as one number. The
-- filters and the row scope choose customers by these three only, so a query can
-- keep a day row by its group (a handful of numbers) instead of joining 500,000
-- customers; customer_value/derive.py checks that no two groups share a number.
-- hash() is DuckDB's 64-bit hash; on Spark it must become xxhash64, not Spark's
-- 32-bit hash(), with which clashes between groups would be likely. The tables
-- and the queries reading them are built by one engine, so only that matters.
-- Parameters: none (rebuilt after every load and undo).
with ranked_attributes as (
    select
        customers.*,
        row_number() over (
            partition by customer_id order by batch_id desc, row_key
        ) as version_rank
    from customers
),

latest_attributes as (
    select * from ranked_attributes where version_rank = 1
),

known_ids as (
    select customer_id from latest_attributes
    union
    select customer_id from transactions where customer_id is not null
    union
    select customer_id from feedback
)

select
    cast(row_number() over (order by known_ids.customer_id) as integer) as customer_key,
    known_ids.customer_id,
    latest_attributes.name,
    latest_attributes.customer_type,
    latest_attributes.region,
    latest_attributes.sales_rep,
    latest_attributes.acquisition_channel,
    latest_attributes.signup_date,
    latest_attributes.referred_by,
    latest_attributes.churn_date,
    hash(latest_attributes.customer_type, latest_attributes.region, latest_attributes.sales_rep)
        as attribute_group
from known_ids
left join latest_attributes on latest_attributes.customer_id = known_ids.customer_id
