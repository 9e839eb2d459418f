-- README: each entry's balance_after is the running sum of its account's entries up to that version. Returns zero rows when the invariant holds; each row is an entry with a wrong balance_after.
select id as entry_id, account_id, account_version, balance_after, running_sum
  from (
    select e.id, e.account_id, e.account_version, e.balance_after,
           sum(e.amount) over (partition by e.account_id order by e.account_version) as running_sum
      from public.entries as e
  ) as history
 where balance_after <> running_sum;
