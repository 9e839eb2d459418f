-- Ablation: the accounts' check constraints other than the two funds checks
-- dropped (Postgres evaluates every check of a row on every update, so these
-- run twice per transfer).
alter table public.accounts drop constraint accounts_kind_check;
alter table public.accounts drop constraint accounts_nickname_check;
alter table public.accounts drop constraint accounts_overdraft_limit_check;
alter table public.accounts drop constraint accounts_owner_matches_kind;
alter table public.accounts drop constraint accounts_status_check;
alter table public.accounts drop constraint accounts_system_purpose_check;
alter table public.accounts drop constraint accounts_version_check;
alter table public.accounts drop constraint accounts_account_number_check;
alter table public.accounts drop constraint accounts_held_minor_not_negative;
