-- README: every transfer is between two accounts of its own currency and has exactly two postings, -amount on its from account and +amount on its to account, summing to zero; a posting is an entry, or for the credit side a pending credit (a credit to a deferred_credits account not settled yet). Returns zero rows when the invariant holds; each row is a broken transfer.
select t.id as transfer_id,
       count(p.account_id) as posting_count,
       coalesce(sum(p.amount), 0) as posting_sum,
       t.amount
  from public.transfers as t
  join public.accounts as src on src.id = t.from_account_id
  join public.accounts as dst on dst.id = t.to_account_id
  left join (
    select transfer_id, account_id, amount from public.entries
    union all
    select transfer_id, account_id, amount from public.pending_credits
  ) as p on p.transfer_id = t.id
 group by t.id, t.amount, t.currency, src.currency, dst.currency
having t.currency <> src.currency
    or t.currency <> dst.currency
    or count(p.account_id) <> 2
    or coalesce(sum(p.amount), 0) <> 0
    or count(*) filter (where p.account_id = t.from_account_id and p.amount = -t.amount) <> 1
    or count(*) filter (where p.account_id = t.to_account_id and p.amount = t.amount) <> 1;
