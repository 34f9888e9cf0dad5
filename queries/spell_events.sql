-- Building block spell_events: one row per movement of a customer in scope:
-- 'new' (first purchase ever), 'reactivated' (a purchase after having been
-- inactive) or 'lost' (the first day without activity).
-- Activity rule (domain brief section 3): a customer is active on day d when
-- they bought within the W days ending on d (purchase date > d - W), and their
-- churn_date, if any, is after d. So a customer is lost on last purchase + W,
-- or on churn_date if that comes first; a purchase exactly W days after the
-- previous one keeps the customer active without a break; purchases on or
-- after churn_date are ignored for activity (the contract has ended).
-- Active customers on day d = events dated <= d: count('new' + 'reactivated')
-- minus count('lost'). Losses after $as_of have not happened yet.
-- Parameters: $window_days (W), $as_of (the data's last day), $all_customers
-- (set by query.py).
with purchase_days as (
    select
        customer_days.customer_id,
        customer_days.day,
        customer_days.prev_purchase_date,
        customer_days.next_purchase_date,
        customer_days.churn_date  -- copied from customer_dim, as scoped_customers has it
    from customer_days
    where
        -- Nobody is filtered out when $all_customers: the scope subquery is skipped (DuckDB folds the
        -- constant); a join to every customer costs more than it filters.
        (customer_days.customer_key in (
            select scoped_customers.customer_key from scoped_customers where not $all_customers
        ) or $all_customers)
        and customer_days.is_purchase
        and customer_days.day <= $as_of
        and (customer_days.churn_date is null or customer_days.day < customer_days.churn_date)
),

spell_starts as (
    select
        customer_id,
        day as event_date,
        case when prev_purchase_date is null then 'new' else 'reactivated' end as event
    from purchase_days
    where prev_purchase_date is null or datediff('day', prev_purchase_date, day) > $window_days
),

spell_ends as (
    select
        customer_id,
        case
            when churn_date is not null and churn_date <= day + cast($window_days as integer)
                then churn_date
            -- DuckDB adds whole days to a date with +; Spark's date_add does the same.
            else day + cast($window_days as integer)
        end as event_date,
        'lost' as event
    from purchase_days
    where
        next_purchase_date is null
        or datediff('day', day, next_purchase_date) > $window_days
        or (churn_date is not null and next_purchase_date >= churn_date)
)

select customer_id, event_date, event from spell_starts
union all
select customer_id, event_date, event from spell_ends where event_date <= $as_of
