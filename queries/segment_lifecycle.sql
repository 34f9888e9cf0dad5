-- One row per customer in scope known by $end (a purchase on or before $end,
-- or no purchase yet and signed up on or before $end or with no signup date):
-- attributes (for the stage's customer list), purchase days up to $end,
-- customers they referred (any customer whose referred_by names them, in
-- scope or not), and NPS 9-10 answers up to $end.
-- The lifecycle ladder (potential -> prospect -> buyer -> loyal -> advocate)
-- is read from these counts in customer_value/segments.py.
-- Parameters: $end.
-- Purchase days come from customer_month for the months before $end's month
-- and from customer_days only for that last month: the whole history stays cheap.
with purchase_days_by_part as (
    select customer_key, purchase_days
    from customer_month
    where month < cast(date_trunc('month', cast($end as date)) as date)
    union all
    select customer_key, case when is_purchase then 1 else 0 end
    from customer_days
    where day between cast(date_trunc('month', cast($end as date)) as date) and $end
),

purchases as (
    select purchase_days_by_part.customer_key, sum(purchase_days_by_part.purchase_days) as purchase_days
    from purchase_days_by_part
    inner join scoped_customers on scoped_customers.customer_key = purchase_days_by_part.customer_key
    group by purchase_days_by_part.customer_key
),

referrals as (
    select referred_by as customer_id, count(*) as referred_customers
    from customer_dim
    where referred_by is not null and (signup_date is null or signup_date <= $end)
    group by referred_by
),

promoter_answers as (
    select customer_id, count(*) as promoter_answers
    from feedback
    where nps >= 9 and response_date <= $end
    group by customer_id
)

select
    scoped_customers.customer_id,
    coalesce(scoped_customers.name, scoped_customers.customer_id) as name,
    coalesce(scoped_customers.customer_type, '(unknown)') as customer_type,
    coalesce(scoped_customers.region, '(unknown)') as region,
    coalesce(scoped_customers.sales_rep, '(unknown)') as sales_rep,
    coalesce(purchases.purchase_days, 0) as purchase_days,
    coalesce(referrals.referred_customers, 0) as referred_customers,
    coalesce(promoter_answers.promoter_answers, 0) as promoter_answers
from scoped_customers
left join purchases on purchases.customer_key = scoped_customers.customer_key
left join referrals on referrals.customer_id = scoped_customers.customer_id
left join promoter_answers on promoter_answers.customer_id = scoped_customers.customer_id
where
    coalesce(purchases.purchase_days, 0) > 0
    or (
        (scoped_customers.first_purchase_date is null or scoped_customers.first_purchase_date > $end)
        and (scoped_customers.signup_date is null or scoped_customers.signup_date <= $end)
    )
