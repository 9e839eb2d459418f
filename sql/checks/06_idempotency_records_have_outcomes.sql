-- README: every idempotency record that claims a success points at an existing transfer (or, for a placed hold, at the hold), and every transfer made by a money-moving call has exactly one record. Returns zero rows when the invariant holds; each row is a record whose transfer is missing or a transfer with several records.
select r.caller_id, r.key, r.transfer_id, 'record points at a missing transfer' as problem
  from public.idempotency_records as r
 where r.transfer_id is not null
   and not exists (select from public.transfers as t where t.id = r.transfer_id)
   and not exists (select from public.holds as h where h.id = r.transfer_id)
union all
select null, null, r.transfer_id, 'transfer claimed by several records'
  from public.idempotency_records as r
 where r.transfer_id is not null
 group by r.transfer_id
having count(*) > 1;
