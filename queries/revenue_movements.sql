-- One row per calendar month (from $start's month to $end's month) and
-- customer type x region of the customers in scope: revenue movements month
-- over month, per customer, from customer_month. A customer's month revenue is
-- floored at zero (a month whose returns exceed its sales counts as no revenue),
-- so for every row revenue_start + new + expansion + reactivation - contraction
-- - churned = revenue_end. Per customer, with prev = last month, cur = this month:
--   new           cur > 0, prev = 0 and this is the month of the first purchase ever;
--   reactivation  cur > 0, prev = 0, bought before;
--   expansion     cur - prev when both > 0 and cur > prev;
--   contraction   prev - cur when both > 0 and cur < prev;
--   churned       prev when prev > 0 and cur = 0.
-- One pass: each customer month finds last month with lag(); a month without a
-- row after a month with revenue is added from the earlier row (lead()).
-- Parameters: $start, $end.
with customer_revenue as (
    select
        customer_month.customer_key,
        customer_month.month,
        greatest(customer_month.revenue, 0) as revenue,
        coalesce(scoped_customers.customer_type, '(unknown)') as customer_type,
        coalesce(scoped_customers.region, '(unknown)') as region,
        customer_month.month = cast(date_trunc('month', scoped_customers.first_purchase_date) as date)
            as is_first_month
    from customer_month
    inner join scoped_customers on scoped_customers.customer_key = customer_month.customer_key
    where
        customer_month.month
        between cast(date_trunc('month', cast($start as date)) as date) - interval 1 month and $end
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
        is_first_month,
        revenue as current_revenue,
        case when previous_month = month - interval 1 month then previous_revenue else 0 end as previous_revenue
    from with_neighbours
    where month >= cast(date_trunc('month', cast($start as date)) as date)
    union all
    -- The month after a month with revenue, when the customer has no row in it.
    select
        cast(month + interval 1 month as date),
        customer_type,
        region,
        false,
        0,
        revenue
    from with_neighbours
    where
        revenue > 0
        and (next_month is null or next_month > month + interval 1 month)
        and month + interval 1 month <= $end
)

select
    month,
    customer_type,
    region,
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
    sum(case when current_revenue > 0 and previous_revenue = 0 and is_first_month then 1 else 0 end) as new_buyers,
    sum(case when current_revenue = 0 and previous_revenue > 0 then 1 else 0 end) as churned_buyers
from per_customer
group by month, customer_type, region
order by month, customer_type, region
