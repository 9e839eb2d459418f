-- Ablation: entries and transfers keep only their primary keys and the
-- (account_id, account_version) key the hash chain reads; the five secondary
-- indexes the product's reads use (history, balance-at, a transfer's entries,
-- an account's transfers) are dropped.
drop index public.entries_account_id_id_idx, public.entries_transfer_id_idx, public.entries_account_id_created_at_idx,
  public.transfers_from_account_id_idx, public.transfers_to_account_id_idx;
