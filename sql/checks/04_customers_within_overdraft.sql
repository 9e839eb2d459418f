-- README: no customer account is below minus its overdraft limit (system accounts may be negative). Returns zero rows when the invariant holds; each row is an overdrawn customer account.
select id as account_id, kind, balance, overdraft_limit
  from public.accounts
 where kind <> 'system'
   and balance < -overdraft_limit;
