-- Ablation: the four foreign keys of entries and transfers dropped (their checks
-- run as after-row triggers, six per transfer). Undone by 01_no_foreign_keys.undo.sql.
alter table public.entries drop constraint entries_account_id_fkey, drop constraint entries_transfer_id_fkey;
alter table public.transfers drop constraint transfers_from_account_id_fkey, drop constraint transfers_to_account_id_fkey;
