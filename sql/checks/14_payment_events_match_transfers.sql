-- README: money moves through the payment provider's accounts only by applied payment events: every applied payment event has its transfer (a deposit into the payment's account, or a withdrawal from it for a refund, against the payment_provider system account of the currency), every transfer to or from a payment_provider account is an applied event's, and a payment's refunds never exceed its deposit. Returns zero rows when the invariant holds; each row is an event or a payment that breaks it.
select e.event_id as subject, e.event_type as problem
  from public.payment_events as e
  left join public.transfers as t on t.id = e.transfer_id
  left join public.accounts as p on p.kind = 'system' and p.system_purpose = 'payment_provider'
                                 and p.currency = e.currency
 where e.status = 'applied'
   and not coalesce(
     case e.event_type
       when 'payment_intent.succeeded' then
         t.kind = 'deposit' and t.to_account_id = e.account_id and t.from_account_id = p.id
         and t.amount = e.amount_minor
       when 'charge.refunded' then
         t.kind = 'withdrawal' and t.from_account_id = e.account_id and t.to_account_id = p.id
     end, false)
union all
select t.id::text, 'provider_transfer_without_event'
  from public.accounts as p
  join public.transfers as t on p.id in (t.from_account_id, t.to_account_id)
 where p.kind = 'system' and p.system_purpose = 'payment_provider'
   and not exists (select from public.payment_events as e
                    where e.transfer_id = t.id and e.status = 'applied')
union all
select d.payment_intent_id, 'refunds_exceed_deposit'
  from public.payment_events as d
  join public.transfers as dt on dt.id = d.transfer_id
  join public.payment_events as r on r.payment_intent_id = d.payment_intent_id
                                 and r.event_type = 'charge.refunded' and r.status = 'applied'
  join public.transfers as rt on rt.id = r.transfer_id
 where d.event_type = 'payment_intent.succeeded' and d.status = 'applied'
 group by d.payment_intent_id, dt.amount
having sum(rt.amount) > dt.amount;
