-- README: every account's held_minor is the sum of its pending holds, a hold never reserves or captures more than its amount, and a pending hold has captured and released nothing. Returns zero rows when the invariant holds; each row is an account whose held_minor disagrees with its holds, or a hold that reserves or captures more than its amount.
select a.id as account_id, null::uuid as hold_id, a.held_minor as recorded,
       coalesce(h.held, 0) as expected, 'held_minor is not the sum of the pending holds' as problem
  from public.accounts as a
  left join (select from_account_id, sum(amount) as held from public.holds
              where status = 'pending' group by from_account_id) as h
    on h.from_account_id = a.id
 where a.held_minor <> coalesce(h.held, 0)
union all
select h.from_account_id, h.id, h.captured_amount + h.released_amount, h.amount,
       'hold captures or releases more than its amount'
  from public.holds as h
 where h.captured_amount + h.released_amount > h.amount
    or (h.status = 'pending' and h.captured_amount + h.released_amount <> 0);
