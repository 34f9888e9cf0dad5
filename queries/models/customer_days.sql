-- Model customer_days: one row per identified customer and calendar day with
-- any transaction line. Pages read this instead of raw lines: it is what makes
-- any date range fast at ten million lines.
-- is_purchase: the day has a non-cancelled line with positive revenue (a day
-- with only returns is not a purchase and does not keep a customer active).
-- prev/next_purchase_date: the neighbouring purchase days of the same customer,
-- precomputed so that activity spells for any window W need no window function.
-- churn_date is copied from customer_dim so that period movements need no join
-- when every customer is in scope; attribute_group (see customer_dim.sql) so that
-- a query can keep the rows of the customers in scope, or sum them by region and
-- rep, without joining every customer.
-- prev/next_order_only_date: on a purchase day, the customer's nearest day before
-- and after it with an order but no purchase (a zero-amount order); null for the
-- (nearly all) customers without such days. They tell period_sales whether a
-- buyer's one purchase day had another order in the period without reading the
-- period twice.
-- Parameters: none. Depends on customer_dim. Stored in day order so that a
-- date range reads only its own row groups.
with order_totals as (
    -- Orders first, then days: counting an order once per day this way is exact and
    -- cheaper than a distinct count over the day's lines.
    select
        customer_id,
        order_date as day,
        order_id,
        sum(amount) as revenue,
        sum(gross_profit) as profit,
        count(gross_profit) as lines_with_profit,
        bool_and(is_cancellation) as only_cancellations,
        count(*) as lines,
        sum(case when is_cancellation then amount else 0 end) as cancelled_revenue,
        bool_or(not is_cancellation and amount > 0) as is_purchase
    from transactions
    where customer_id is not null
    group by customer_id, order_date, order_id
),

day_totals as (
    select
        customer_id,
        day,
        sum(revenue) as revenue,
        sum(profit) as profit,
        cast(sum(lines_with_profit) as bigint) as lines_with_profit,  -- a sum of counts is HUGEINT otherwise
        count(case when not only_cancellations then 1 end) as orders,
        cast(sum(lines) as bigint) as lines,
        sum(cancelled_revenue) as cancelled_revenue,
        bool_or(is_purchase) as is_purchase
    from order_totals
    group by customer_id, day
),

purchase_neighbours as (
    select
        customer_id,
        day,
        lag(day) over by_customer as prev_purchase_date,
        lead(day) over by_customer as next_purchase_date
    from day_totals
    where is_purchase
    window by_customer as (partition by customer_id order by day)
),

order_only_neighbours as (
    -- Only the customers with an order-only day: the window runs over a handful of customers, not all.
    select
        customer_id,
        day,
        max(case when not is_purchase and orders > 0 then day end) over (
            partition by customer_id order by day rows between unbounded preceding and 1 preceding
        ) as prev_order_only_date,
        min(case when not is_purchase and orders > 0 then day end) over (
            partition by customer_id order by day rows between 1 following and unbounded following
        ) as next_order_only_date
    from day_totals
    where customer_id in (select customer_id from day_totals where not is_purchase and orders > 0)
)

select
    customer_dim.customer_key,
    day_totals.*,
    customer_dim.churn_date,
    customer_dim.attribute_group,
    purchase_neighbours.prev_purchase_date,
    purchase_neighbours.next_purchase_date,
    case when day_totals.is_purchase then order_only_neighbours.prev_order_only_date end as prev_order_only_date,
    case when day_totals.is_purchase then order_only_neighbours.next_order_only_date end as next_order_only_date
from day_totals
inner join customer_dim on customer_dim.customer_id = day_totals.customer_id
left join purchase_neighbours
    on purchase_neighbours.customer_id = day_totals.customer_id
    and purchase_neighbours.day = day_totals.day
left join order_only_neighbours
    on order_only_neighbours.customer_id = day_totals.customer_id
    and order_only_neighbours.day = day_totals.day
order by day_totals.day, customer_dim.customer_key
