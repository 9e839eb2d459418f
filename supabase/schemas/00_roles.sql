-- Roles: ledger_owner, and what it may call in Supabase's `auth` schema.
--
-- `ledger_owner` is a NOLOGIN role that owns every security definer function
-- of `private` and `loans_private` (90_ledger_owner.sql). Inside those
-- functions current_user is `ledger_owner`, anywhere else (the dashboard,
-- PostgREST's roles, pg_cron's direct SQL) it is not, and the guard triggers
-- (60_audit_and_guards.sql) let a write through only for it: a session cannot
-- make itself another role by setting something. It has BYPASSRLS because the
-- definer functions read every row; it is nobody's login and no API role is a
-- member of it. Limits: docs/decisions/0001-ledger-guards-trust-the-owning-role.md.
--
-- Not managed by pg-delta (roles and grants in `auth` are outside the managed
-- schemas): scripts/schema_diff.py copies this file as it is to the top of
-- the baseline migration, and a change here needs a hand-written migration
-- (`make migration` says so; `scripts/schema_diff.py check` verifies it).

do $$
begin
  if not exists (select from pg_roles where rolname = 'ledger_owner') then
    create role ledger_owner nologin noinherit bypassrls;
  end if;
end
$$;

-- auth.uid() and friends, which the functions read the caller from.
grant usage on schema auth to ledger_owner;

grant execute on function auth.uid(), auth.role(), auth.email(), auth.jwt() to ledger_owner;
