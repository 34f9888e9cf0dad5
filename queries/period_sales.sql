-- One row: sales of the customers in scope over [$start, $end] (inclusive):
-- revenue (net of returns), gross profit where known, buying customers,
-- orders, and buyers with two or more orders in the period.
-- Written so that nothing groups by customer (at 500,000 customers that group
-- by was most of the time): sums are taken over the day rows directly; a buyer
-- is counted on their first purchase day in the period, the one whose previous
-- purchase (prev_purchase_date, precomputed in customer_days) is before $start.
-- Repeat buyers (two or more orders in the period) are the buyers with two or
-- more purchase days (each purchase day holds an order), plus those with one
-- purchase day (no neighbouring purchase day in the period) that holds two
-- orders, or one order and another order on a day without a purchase (a
-- zero-amount order, rare: its nearest such day before or after, precomputed
-- in customer_days, falls in the period). Reading the period a second time to
-- find those days was half this query's time at 10 million lines.
-- A period customer_periods holds ($stored_period, set by query.py: a period
-- preset or the one before it) is read from its one row per customer instead:
-- a buyer has a purchase day in it, a repeat buyer two or more orders (an order
-- is on a purchase day or an order-only day, so this is the rule above).
-- DuckDB folds the bound constants, so only one path runs.
-- Parameters: $start, $end, $all_customers (true when no filter or scope leaves
-- anyone out: the scoped_customers join is skipped), $stored_period.
with stored_rows as (
    select
        revenue,
        profit,
        lines_with_profit,
        lines,
        orders,
        case when purchase_days > 0 then 1 else 0 end as buyers,
        case when purchase_days > 0 and orders >= 2 then 1 else 0 end as repeat_buyers
    from customer_periods
    where
        $stored_period
        and period_start = $start
        and period_end = $end
        and (customer_key in (select customer_key from scoped_customers where not $all_customers) or $all_customers)
),

scoped_days as (
    select
        revenue, profit, lines_with_profit, lines, orders, is_purchase, prev_purchase_date,
        next_purchase_date, prev_order_only_date, next_order_only_date
    from customer_days
    where
        not $stored_period
        and day between $start and $end
        and (customer_key in (select customer_key from scoped_customers where not $all_customers) or $all_customers)
),

days_marked as (
    select
        *,
        is_purchase and (prev_purchase_date is null or prev_purchase_date < $start) as is_first_purchase,
        is_purchase
        and (prev_purchase_date is null or prev_purchase_date < $start)
        and (next_purchase_date is null or next_purchase_date > $end) as is_only_purchase,
        prev_order_only_date >= $start or next_order_only_date <= $end as has_order_only_day
    from scoped_days
),

day_rows as (
    -- A buyer counts on their first purchase day; a repeat buyer there too, or on their only purchase day
    -- when it holds two orders or the period has an order-only day of theirs.
    select
        revenue,
        profit,
        lines_with_profit,
        lines,
        orders,
        case when is_first_purchase then 1 else 0 end as buyers,
        case
            when is_first_purchase and not is_only_purchase then 1
            when is_only_purchase and orders >= 2 then 1
            when is_only_purchase and orders = 1 and has_order_only_day then 1
            else 0
        end as repeat_buyers
    from days_marked
),

period_rows as (
    -- One of the two is empty: DuckDB folds $stored_period, so only one is read.
    select * from stored_rows
    union all
    select * from day_rows
)

select
    coalesce(sum(revenue), 0) as revenue,
    sum(profit) as profit,
    coalesce(sum(lines_with_profit), 0) as lines_with_profit,
    coalesce(sum(lines), 0) as lines,
    coalesce(sum(orders), 0) as orders,
    coalesce(sum(buyers), 0) as buyers,
    coalesce(sum(repeat_buyers), 0) as repeat_buyers
from period_rows
