-- README: every account's balance equals the sum of its entries, and its latest entry's balance_after. Returns zero rows when the invariant holds; each row is an account whose balance disagrees with its entries.
select a.id as account_id,
       a.balance,
       coalesce(e.entry_sum, 0) as entry_sum,
       e.last_balance_after
  from public.accounts as a
  left join lateral (
    select sum(amount) as entry_sum,
           (array_agg(balance_after order by account_version desc))[1] as last_balance_after
      from public.entries
     where account_id = a.id
  ) as e on true
 where a.balance <> coalesce(e.entry_sum, 0)
    or (e.last_balance_after is not null and e.last_balance_after <> a.balance);
