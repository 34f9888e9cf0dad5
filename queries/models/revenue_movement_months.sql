-- Model revenue_movement_months: one row per calendar month and customer
-- attribute group (customer_type, region, sales_rep, '(unknown)' when missing)
-- with that month's revenue movements, summed over the group's customers, for
-- every month of the data. A customer's month revenue is floored at zero (a
-- month whose returns exceed its sales counts as no revenue). Per customer,
-- with prev = last month, cur = this month:
--   new           cur > 0, prev = 0 and this is the month of the first purchase ever;
--   reactivation  cur > 0, prev = 0, bought before;
--   expansion     cur - prev when both > 0 and cur > prev;
--   contraction   prev - cur when both > 0 and cur < prev;
--   churned       prev when prev > 0 and cur = 0.
-- One pass: each customer month finds last month with lag(); a month without a
-- row after a month with revenue is added from the earlier row (lead()).
-- Movements are additive over customers, so any period's months and any filter
-- on the three attributes are sums over this small table (revenue_movements).
-- tests/test_derived.py checks it against a count customer by customer.
-- Parameters: none. Depends on customer_month and customer_summary.
with customer_revenue as (
    select
        customer_month.customer_key,
        customer_month.month,
        greatest(customer_month.revenue, 0) as revenue,
        coalesce(customer_summary.customer_type, '(unknown)') as customer_type,
        coalesce(customer_summary.region, '(unknown)') as region,
        coalesce(customer_summary.sales_rep, '(unknown)') as sales_rep,
        customer_month.month = cast(date_trunc('month', customer_summary.first_purchase_date) as date)
            as is_first_month
    from customer_month
    inner join customer_summary on customer_summary.customer_key = customer_month.customer_key
),

with_neighbours as (
    select
        *,
        lag(month) over by_customer as previous_month,
        lag(revenue) over by_customer as previous_revenue,
        lead(month) over by_customer as next_month
    from customer_revenue
    window by_customer as (partition by customer_key order by month)
),

per_customer as (
    select
        month,
        customer_type,
        region,
        sales_rep,
        is_first_month,
        revenue as current_revenue,
        case when previous_month = month - interval 1 month then previous_revenue else 0 end as previous_revenue
    from with_neighbours
    union all
    -- The month after a month with revenue, when the customer has no row in it.
    -- Stored even past the data's last month (the reader stops at $end), so that
    -- each customer's rows depend on their own months only and a load can
    -- refresh just the customers it touched.
    select
        cast(month + interval 1 month as date),
        customer_type,
        region,
        sales_rep,
        false,
        0,
        revenue
    from with_neighbours
    where
        revenue > 0
        and (next_month is null or next_month > month + interval 1 month)
)

select
    month,
    customer_type,
    region,
    sales_rep,
    sum(previous_revenue) as revenue_start,
    sum(case when current_revenue > 0 and previous_revenue = 0 and is_first_month
        then current_revenue else 0 end) as new_revenue,
    sum(case when current_revenue > previous_revenue and previous_revenue > 0
        then current_revenue - previous_revenue else 0 end) as expansion_revenue,
    sum(case when current_revenue > 0 and previous_revenue = 0 and not coalesce(is_first_month, false)
        then current_revenue else 0 end) as reactivation_revenue,
    sum(case when current_revenue < previous_revenue and current_revenue > 0
        then previous_revenue - current_revenue else 0 end) as contraction_revenue,
    sum(case when current_revenue = 0 and previous_revenue > 0 then previous_revenue else 0 end) as churned_revenue,
    sum(current_revenue) as revenue_end,
    cast(sum(case when current_revenue > 0 and previous_revenue = 0 and is_first_month then 1 else 0 end)
        as bigint) as new_buyers,
    cast(sum(case when current_revenue = 0 and previous_revenue > 0 then 1 else 0 end) as bigint) as churned_buyers
from per_customer
group by month, customer_type, region, sales_rep
-- A group whose figures are all zero adds nothing; leaving it out keeps a full
-- rebuild equal to the refresh, which drops the groups that sum to zero.
having sum(previous_revenue) <> 0 or sum(current_revenue) <> 0
order by month, customer_type, region, sales_rep
