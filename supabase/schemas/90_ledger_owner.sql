grant select, insert, update, delete on all tables in schema public, private, loans_private
  to ledger_owner;

grant usage, select, update on all sequences in schema public, private, loans_private
  to ledger_owner;

grant execute on all functions in schema private, loans_private to ledger_owner;

-- Tables and functions of later migrations are the ledger's too.
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

-- The audit log: who by the token (forgeable by a dashboard session, which
-- can set request.jwt.claims) and who by the database (session_user, which
