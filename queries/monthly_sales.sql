-- One row per calendar month from $start's month to $end's month: revenue,
-- gross profit and buying customers of the customers in scope (whole months;
-- the page's period is widened to whole months for trends).
-- Parameters: $start, $end, $all_customers.
with months as (
    select cast(month_start as date) as month
    from generate_series(
        cast(date_trunc('month', cast($start as date)) as timestamp),
        cast(date_trunc('month', cast($end as date)) as timestamp),
        interval 1 month
    ) as series(month_start)
),

monthly as (
    select
        customer_month.month,
        sum(customer_month.revenue) as revenue,
        sum(customer_month.profit) as profit,
        sum(case when customer_month.purchase_days > 0 then 1 else 0 end) as buyers
    from customer_month
    where
        customer_month.month between cast(date_trunc('month', cast($start as date)) as date) and $end
        -- $all_customers (set by query.py): nobody is filtered out, so skip the join (DuckDB folds it).
        and (customer_month.customer_key in (select customer_key from scoped_customers where not $all_customers)
            or $all_customers)
    group by customer_month.month
)

select
    months.month,
    coalesce(monthly.revenue, 0) as revenue,
    monthly.profit,
    coalesce(monthly.buyers, 0) as buyers
from months
left join monthly on monthly.month = months.month
order by months.month
