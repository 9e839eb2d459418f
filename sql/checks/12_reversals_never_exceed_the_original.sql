-- README: every reversal is a transfer of kind reversal between the original's two accounts in the other direction, of the amount its link records, and the reversals of a transfer sum to no more than it; a reversal is never itself reversed. Returns zero rows when the invariant holds; each row is a broken original or reversal.
select r.original_transfer_id, r.reversal_transfer_id, 'reversal does not mirror its original' as problem
  from public.transfer_reversals as r
  join public.transfers as o on o.id = r.original_transfer_id
  join public.transfers as t on t.id = r.reversal_transfer_id
 where t.kind <> 'reversal'
    or o.kind = 'reversal'
    or t.from_account_id <> o.to_account_id
    or t.to_account_id <> o.from_account_id
    or t.currency <> o.currency
    or t.amount <> r.amount
union all
select r.original_transfer_id, null, 'reversals exceed the original'
  from public.transfer_reversals as r
  join public.transfers as o on o.id = r.original_transfer_id
 group by r.original_transfer_id, o.amount
having sum(r.amount) > o.amount
union all
select null, t.id, 'reversal transfer without its link'
  from public.transfers as t
 where t.kind = 'reversal'
   and not exists (select from public.transfer_reversals as r where r.reversal_transfer_id = t.id);
