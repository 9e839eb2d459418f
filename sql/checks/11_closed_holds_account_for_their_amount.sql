-- README: a closed hold's captured plus released amounts equal its amount, and a captured hold's transfer moved exactly the captured amount between the hold's accounts in its currency. Returns zero rows when the invariant holds; each row is a closed hold that does not add up or whose capture transfer disagrees with it.
select h.id as hold_id, h.status, h.amount, h.captured_amount, h.released_amount,
       t.amount as transfer_amount
  from public.holds as h
  left join public.transfers as t on t.id = h.capture_transfer_id
 where h.status <> 'pending'
   and (h.captured_amount + h.released_amount <> h.amount
        or (h.status = 'captured') <> (t.id is not null)
        or (t.id is not null
            and (t.amount, t.from_account_id, t.to_account_id, t.currency)
                is distinct from (h.captured_amount, h.from_account_id, h.to_account_id, h.currency)));
