create schema if not exists private;
revoke all on schema private from public;
grant usage on schema private to authenticated, service_role;

create schema if not exists loans_private;
revoke all on schema loans_private from public;
grant usage on schema loans_private to authenticated, service_role;

grant usage on schema public, private, loans_private, extensions to ledger_owner;
