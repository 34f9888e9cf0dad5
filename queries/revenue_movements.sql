-- One row per calendar month (from $start's month to $end's month) and
-- customer type x region of the customers in scope: revenue movements month
-- over month, per customer (the rules are in revenue_movement_months.sql). A
-- customer's month revenue is floored at zero, so for every row revenue_start
-- + new + expansion + reactivation - contraction - churned = revenue_end.
-- Movements are additive over customers, so the rows are sums over the derived
-- table revenue_movement_months (month x type x region x sales rep); a filter
-- or row scope keeps the attribute groups of the customers in scope.
-- tests/test_derived.py checks the result against a count customer by customer.
-- Parameters: $start, $end, $all_customers.
with scoped_groups as (
    select distinct
        coalesce(customer_type, '(unknown)') as customer_type,
        coalesce(region, '(unknown)') as region,
        coalesce(sales_rep, '(unknown)') as sales_rep
    from scoped_customers
    where not $all_customers
)

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
    month between cast(date_trunc('month', cast($start as date)) as date) and $end
    and ($all_customers or exists (
        select 1 from scoped_groups
        where
            scoped_groups.customer_type = revenue_movement_months.customer_type
            and scoped_groups.region = revenue_movement_months.region
            and scoped_groups.sales_rep = revenue_movement_months.sales_rep))
group by month, customer_type, region
order by month, customer_type, region
