-- What ledger_owner (00_roles.sql) may do: write the ledger's tables and run
-- the private functions, and own every security definer function of
-- `private` and `loans_private`, so those functions run as it.
--
-- Written as rules over whole schemas, last, so they cover every object the
-- files before define; pg-delta turns them into one grant or owner change per
-- object in a migration.

grant select, insert, update, delete on all tables in schema public, private, loans_private
  to ledger_owner;

grant usage, select, update on all sequences in schema public, private, loans_private
  to ledger_owner;

grant execute on all functions in schema private, loans_private to ledger_owner;

-- Tables and functions added later are the ledger's too.
alter default privileges in schema public, private, loans_private
  grant select, insert, update, delete on tables to ledger_owner;

alter default privileges in schema public, private, loans_private
  grant usage, select, update on sequences to ledger_owner;

alter default privileges in schema private, loans_private
  grant execute on functions to ledger_owner;

-- Every security definer function of the private schemas runs as ledger_owner.
do $$
declare
  v_function regprocedure;
begin
  for v_function in
    select p.oid::regprocedure
      from pg_proc as p
      join pg_namespace as n on n.oid = p.pronamespace
     where n.nspname in ('private', 'loans_private') and p.prosecdef
  loop
    execute format('alter function %s owner to ledger_owner', v_function);
  end loop;
end
$$;
