-- One row: leads first recorded on or before $end (or never contacted) that
-- did not become a known customer: how many were never contacted (potential
-- customers) and how many were contacted without buying (prospects). Leads
-- carry no region, type or rep, so the caller counts them only when no
-- attribute filter or row scope applies (customer_value/segments.py).
-- Parameters: $end.
select
    coalesce(sum(case when coalesce(leads.contacts, 0) = 0 then 1 else 0 end), 0) as potential,
    coalesce(sum(case when coalesce(leads.contacts, 0) > 0 then 1 else 0 end), 0) as prospects,
    count(*) as leads
from leads
left join customer_dim on customer_dim.customer_id = leads.converted_customer_id
where customer_dim.customer_id is null and (leads.first_contact_date is null or leads.first_contact_date <= $end)
