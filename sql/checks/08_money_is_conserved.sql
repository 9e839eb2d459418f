-- README: money is neither created nor destroyed: per currency, the balances of all accounts (the bank's system accounts included) plus the credits still pending for deferred_credits accounts sum to zero. A pending credit's transfer has already debited its sender, and the credit joins its receiver's balance only when settled, so a balance-only sum is off by every pending credit until then. Returns zero rows when the invariant holds; each row is a currency whose money does not sum to zero.
select currency, sum(amount) as total
  from (
    select currency, balance as amount from public.accounts
    union all
    select a.currency, p.amount
      from public.pending_credits as p
      join public.accounts as a on a.id = p.account_id
  ) as money
 group by currency
having sum(amount) <> 0;
