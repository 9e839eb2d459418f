-- README: every pending credit (a credit to a deferred_credits account not settled yet) belongs to a transfer that has exactly one entry, its debit, and credits that transfer's to account with its amount, once. Returns zero rows when the invariant holds; each row is a pending credit that is orphaned, doubled or already posted.
select p.id as pending_credit_id, p.transfer_id, p.account_id, p.amount,
       (select count(*) from public.entries as e where e.transfer_id = p.transfer_id) as entry_count
  from public.pending_credits as p
  left join public.transfers as t on t.id = p.transfer_id
 where t.id is null
    or p.account_id <> t.to_account_id
    or p.amount <> t.amount
    or (select count(*) from public.entries as e where e.transfer_id = p.transfer_id) <> 1
    or not exists (select from public.entries as e
                    where e.transfer_id = p.transfer_id
                      and e.account_id = t.from_account_id and e.amount = -t.amount)
    or (select count(*) from public.pending_credits as q where q.transfer_id = p.transfer_id) <> 1;
