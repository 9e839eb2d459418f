-- README: every transfer is between two accounts of its own currency and has exactly two entries, -amount on its from account and +amount on its to account, summing to zero. Returns zero rows when the invariant holds; each row is a broken transfer.
select t.id as transfer_id,
       count(e.id) as entry_count,
       coalesce(sum(e.amount), 0) as entry_sum,
       t.amount
  from public.transfers as t
  join public.accounts as src on src.id = t.from_account_id
  join public.accounts as dst on dst.id = t.to_account_id
  left join public.entries as e on e.transfer_id = t.id
 group by t.id, t.amount, t.currency, src.currency, dst.currency
having t.currency <> src.currency
    or t.currency <> dst.currency
    or count(e.id) <> 2
    or coalesce(sum(e.amount), 0) <> 0
    or count(*) filter (where e.account_id = t.from_account_id and e.amount = -t.amount) <> 1
    or count(*) filter (where e.account_id = t.to_account_id and e.amount = t.amount) <> 1;
