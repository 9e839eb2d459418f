-- README: every recorded batch has all its items, numbered 0 to item_count - 1, each a posted transfer of the batch's sender's; a refused batch leaves no batch, no item and no transfer (its idempotency record holds the refusal). Returns zero rows when the invariant holds; each row is a broken batch.
select b.id as batch_id, b.item_count, count(i.transfer_id) as items, count(t.id) as posted
  from public.transfer_batches as b
  left join public.transfer_batch_items as i on i.batch_id = b.id
  left join public.transfers as t
    on t.id = i.transfer_id and t.initiated_by = b.initiated_by and t.kind = 'transfer'
 group by b.id, b.item_count
having count(i.transfer_id) <> b.item_count
    or count(t.id) <> b.item_count
    or min(i.index) <> 0
    or max(i.index) <> b.item_count - 1;
