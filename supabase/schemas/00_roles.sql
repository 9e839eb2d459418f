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
