-- One row per customer of $customer_keys and month (from $start's month to
-- $end's month) in which the customer is active at the month's end (activity
-- rule with W, see month_end_activity.sql): value churn asks this only of the
-- customers who slid to low value.
-- Parameters: $start, $end, $window_days (W), $as_of, $customer_keys (a list).
-- requires: month_end_activity
select customer_key, month
from month_end_activity
-- unnest turns the bound list into rows (DuckDB; Spark: explode).
where customer_key in (select unnest($customer_keys))
