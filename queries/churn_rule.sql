-- One row: which churn rule applies to the customers in scope. customers =
-- customers in scope who ever bought; with_churn_date = those carrying an
-- explicit contract end (churn_date), counted lost on that date whatever the
-- purchase record says; churn_dates_in_period = contract ends within
-- [$start, $end]; bought_after_churn_date = customers with purchases on or
-- after their contract end (ignored for activity).
-- Parameters: $start, $end.
select
    count(*) as customers,
    count(churn_date) as with_churn_date,
    coalesce(sum(case when churn_date between $start and $end then 1 else 0 end), 0) as churn_dates_in_period,
    coalesce(sum(case when last_purchase_date >= churn_date then 1 else 0 end), 0) as bought_after_churn_date
from scoped_customers
where first_purchase_date is not null
