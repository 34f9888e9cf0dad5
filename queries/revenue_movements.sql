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
-- When $revenue_cube is true (query.py: $end is not after the data's last day)
-- the rows are sums over the derived table revenue_movement_months instead,
-- which holds the same movements per month and attribute group; DuckDB folds
-- the bound flag, so only one branch runs. tests/test_derived.py checks both.
-- Parameters: $start, $end, $all_customers, $revenue_cube.
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
        not $revenue_cube
        and customer_month.month
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
),

live_totals as (
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
),

scoped_groups as (
    select distinct
        coalesce(customer_type, '(unknown)') as customer_type,
        coalesce(region, '(unknown)') as region,
        coalesce(sales_rep, '(unknown)') as sales_rep
    from scoped_customers
    where $revenue_cube and not $all_customers
),

cube_totals as (
    select
        month,
        customer_type,
        region,
        sum(revenue_start) as revenue_start,
        sum(new_revenue) as new_revenue,
        sum(expansion_revenue) as expansion_revenue,
        sum(reactivation_revenue) as reactivation_revenue,
        sum(contraction_revenue) as contraction_revenue,
        sum(churned_revenue) as churned_revenue,
        sum(revenue_end) as revenue_end,
        sum(new_buyers) as new_buyers,
        sum(churned_buyers) as churned_buyers
    from revenue_movement_months
    where
        $revenue_cube
        and month between cast(date_trunc('month', cast($start as date)) as date) and $end
        and ($all_customers or exists (
            select 1 from scoped_groups
            where
                scoped_groups.customer_type = revenue_movement_months.customer_type
                and scoped_groups.region = revenue_movement_months.region
                and scoped_groups.sales_rep = revenue_movement_months.sales_rep))
    group by month, customer_type, region
)

select * from live_totals
union all
select * from cube_totals
order by month, customer_type, region
