-- The schemas the ledger's internals live in.
--
-- `private` (the ledger) and `loans_private` (the loans) are schemas PostgREST
-- does not expose (config.toml exposes only `public`): the security definer
-- functions live there, reached only through thin `security invoker`
-- functions in `public`. Roles that call those wrappers need `usage` on them;
-- nobody reaches them over HTTP, because PostgREST refuses any schema outside
-- its `db-schemas`.

create schema if not exists private;
revoke all on schema private from public;
grant usage on schema private to authenticated, service_role;

create schema if not exists loans_private;
revoke all on schema loans_private from public;
grant usage on schema loans_private to authenticated, service_role;

grant usage on schema public, private, loans_private, extensions to ledger_owner;
