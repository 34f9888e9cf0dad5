-- One row per customer in scope with anything to report for [$start, $end]:
-- active on the day before $start or on $end, new / reactivated / lost in the
-- period (spell_events, the activity rule of the domain brief), period revenue
-- and gross profit (customer_days), and the period's survey answers and
-- complaints. The team page sums these rows by region and by sales rep, so its
-- totals add up to the overview's. Scores outside their scale (NPS 0-10, CSAT
-- 1-5) are ignored, as on the satisfaction page.
-- requires: spell_events
-- Parameters: $start, $end, $window_days (W, via spell_events), $as_of.
with movements as (
    select
        customer_id,
        coalesce(sum(case when event_date < $start
            then case when event = 'lost' then -1 else 1 end end), 0) > 0 as active_start,
        coalesce(sum(case when event_date <= $end
            then case when event = 'lost' then -1 else 1 end end), 0) > 0 as active_end,
        sum(case when event = 'new' and event_date between $start and $end then 1 else 0 end) as new_customer,
        sum(case when event = 'reactivated' and event_date between $start and $end then 1 else 0 end)
            as reactivations,
        sum(case when event = 'lost' and event_date between $start and $end then 1 else 0 end) as losses
    from spell_events
    where event_date <= $end
    group by customer_id
),

period_sales as (
    select
        customer_days.customer_id,
        sum(customer_days.revenue) as revenue,
        sum(customer_days.profit) as profit,
        sum(customer_days.lines_with_profit) as lines_with_profit,
        sum(case when customer_days.is_purchase then 1 else 0 end) as purchase_days
    from customer_days
    inner join scoped_customers on scoped_customers.customer_key = customer_days.customer_key
    where customer_days.day between $start and $end
    group by customer_days.customer_id
),

period_feedback as (
    select
        feedback.customer_id,
        sum(case when feedback.nps between 0 and 10 then 1 else 0 end) as nps_answers,
        sum(case when feedback.nps between 9 and 10 then 1 else 0 end) as promoters,
        sum(case when feedback.nps between 0 and 6 then 1 else 0 end) as detractors,
        sum(case when feedback.csat between 1 and 5 then 1 else 0 end) as csat_answers,
        sum(case when feedback.csat between 4 and 5 then 1 else 0 end) as satisfied,
        sum(case when feedback.complaint then 1 else 0 end) as complaints
    from feedback
    inner join scoped_customers on scoped_customers.customer_id = feedback.customer_id
    where feedback.response_date between $start and $end
    group by feedback.customer_id
)

select
    scoped_customers.customer_id,
    scoped_customers.name,
    coalesce(scoped_customers.customer_type, '(unknown)') as customer_type,
    coalesce(scoped_customers.region, '(unknown)') as region,
    coalesce(scoped_customers.sales_rep, '(unknown)') as sales_rep,
    scoped_customers.last_purchase_date,
    coalesce(movements.active_start, false) as active_start,
    coalesce(movements.active_end, false) as active_end,
    coalesce(movements.new_customer, 0) as new_customer,
    coalesce(movements.reactivations, 0) as reactivations,
    coalesce(movements.losses, 0) as losses,
    coalesce(period_sales.purchase_days, 0) > 0 as bought_in_period,
    coalesce(period_sales.revenue, 0) as revenue,
    period_sales.profit,
    coalesce(period_sales.lines_with_profit, 0) as lines_with_profit,
    coalesce(period_feedback.nps_answers, 0) as nps_answers,
    coalesce(period_feedback.promoters, 0) as promoters,
    coalesce(period_feedback.detractors, 0) as detractors,
    coalesce(period_feedback.csat_answers, 0) as csat_answers,
    coalesce(period_feedback.satisfied, 0) as satisfied,
    coalesce(period_feedback.complaints, 0) as complaints
from scoped_customers
left join movements on movements.customer_id = scoped_customers.customer_id
left join period_sales on period_sales.customer_id = scoped_customers.customer_id
left join period_feedback on period_feedback.customer_id = scoped_customers.customer_id
where
    movements.customer_id is not null and (movements.active_start or movements.active_end
        or movements.new_customer > 0 or movements.reactivations > 0 or movements.losses > 0)
    or period_sales.customer_id is not null
    or period_feedback.customer_id is not null
order by scoped_customers.customer_id
