-- Rebuilds the five secondary indexes.
create index entries_account_id_id_idx on public.entries (account_id, id);
create index entries_transfer_id_idx on public.entries (transfer_id);
create index entries_account_id_created_at_idx on public.entries (account_id, created_at, account_version);
create index transfers_from_account_id_idx on public.transfers (from_account_id);
create index transfers_to_account_id_idx on public.transfers (to_account_id);
