-- The ledger's guards trust a role, not a setting.
--
-- Why: the guard triggers of 20261123000600 and 20261123001100 let a write
-- through when the transaction-local settings `ledger.posting` or
-- `loans.internal` were 'on'. Any session can set a custom setting, so the
-- dashboard (`postgres`) could `set local ledger.posting = 'on'` and change a
-- balance with no audit row. A session cannot make itself another role by
-- setting something, so the guards now ask who is running the statement:
--
--   * `ledger_owner` is a NOLOGIN role that owns every security definer
--     function of `private` and `loans_private` (the posting functions, the
--     loan functions, the audit writer). Inside those functions current_user
--     is `ledger_owner`; anywhere else (the dashboard, PostgREST's roles,
--     pg_cron's direct SQL) it is not.
--   * the triggers that guarded "only through a posting" test
--     `current_user = 'ledger_owner'`; the settings are still set by the
--     posting functions but no guard reads them any more.
--   * `ledger_owner` has BYPASSRLS (the definer functions read every row, as
--     they did when `postgres` owned them) and the table grants it writes;
--     it is nobody's login and no API role is a member of it.
--
-- Limits (docs/decisions/0001-ledger-guards-trust-the-owning-role.md): a
-- superuser, or a role granted membership in `ledger_owner`, can still
-- `set role ledger_owner` or disable the triggers; the entries' hash chain
-- is what makes such an edit visible afterwards.
--
-- Every change to an account is audited except a posting's own update of
-- balance, version and updated_at (recorded by its transfer and entries); a
-- freeze, a rename or an overdraft change made through the admin functions
-- is audited like one made in the dashboard. The audit row now also records
-- `db_role` (session_user), which a session cannot set, next to the token's
-- claims, which it can.

do $$
begin
  if not exists (select from pg_roles where rolname = 'ledger_owner') then
    create role ledger_owner nologin noinherit bypassrls;
  end if;
end
$$;

grant usage on schema public, private, loans_private, extensions to ledger_owner;
-- auth.uid() and friends, which the functions read the caller from.
grant usage on schema auth to ledger_owner;
grant execute on function auth.uid(), auth.role(), auth.email(), auth.jwt() to ledger_owner;
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
-- it cannot).
alter table public.audit_log add column db_role text not null default session_user;

-- Audited tables keyed by something other than `id` (currencies by `code`,
-- the bank settings by `key`) name their row by that key.
create or replace function private.write_audit_log()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row jsonb := case when tg_op = 'DELETE' then to_jsonb(old) else to_jsonb(new) end;
begin
  insert into public.audit_log (actor_id, actor_role, table_name, row_id, action, before, after)
  values (
    auth.uid(),
    coalesce(auth.role(), session_user),
    tg_table_name,
    coalesce(v_row ->> 'id', v_row ->> 'code', v_row ->> 'key'),
    lower(tg_op),
    case when tg_op <> 'INSERT' then to_jsonb(old) end,
    case when tg_op <> 'DELETE' then to_jsonb(new) end
  );
  return null;
end;
$$;

-- Only the ledger writes entries, transfers and pending credits.
drop trigger entries_come_from_postings on public.entries;
create trigger entries_come_from_postings
  before insert on public.entries
  for each row when (current_user <> 'ledger_owner')
  execute function private.refuse_change('entries are written only by the ledger''s functions');

drop trigger transfers_come_from_postings on public.transfers;
create trigger transfers_come_from_postings
  before insert on public.transfers
  for each row when (current_user <> 'ledger_owner')
  execute function private.refuse_change('transfers are written only by the ledger''s functions');

drop trigger pending_credits_come_from_postings on public.pending_credits;
create trigger pending_credits_come_from_postings
  before insert or delete on public.pending_credits
  for each row when (current_user <> 'ledger_owner')
  execute function private.refuse_change('pending credits are written and settled only by the ledger''s functions');

-- Accounts: anyone but the ledger may edit only status, nickname, overdraft
-- limit and the deferred-credits flag; every change but a posting's is audited.
drop trigger accounts_guard_update on public.accounts;
create trigger accounts_guard_update
  before update on public.accounts
  for each row when (current_user <> 'ledger_owner')
  execute function private.guard_account_update();

drop trigger accounts_audit_changes on public.accounts;
create trigger accounts_audit_changes
  after insert or delete on public.accounts
  for each row execute function private.write_audit_log();
create trigger accounts_audit_updates
  after update on public.accounts
  for each row when (
    current_user <> 'ledger_owner'
    or (old.status, old.nickname, old.overdraft_limit, old.deferred_credits)
       is distinct from (new.status, new.nickname, new.overdraft_limit, new.deferred_credits)
  )
  execute function private.write_audit_log();

-- The audit log is written only by the audit trigger's function.
create trigger audit_log_comes_from_the_audit_trigger
  before insert on public.audit_log
  for each row when (current_user <> 'ledger_owner')
  execute function private.refuse_change('the audit log is written only by the audit trigger');

-- Loans: the loan functions are the ones running as ledger_owner.
create or replace function loans_private.in_loan_function()
returns boolean
language sql
stable
set search_path = ''
as $$
  select current_user = 'ledger_owner'
$$;

-- Repayment replies and close-of-business runs: written only by the loan
-- functions, never deleted or truncated.
create trigger loan_repayments_come_from_loan_functions
  before insert or update or delete on loans_private.loan_repayments
  for each row when (current_user <> 'ledger_owner')
  execute function private.refuse_change('loan repayments are written only by loan_repay');
create trigger loan_repayments_are_kept
  before delete on loans_private.loan_repayments
  for each row execute function private.refuse_change('loan repayments are kept for replays');
create trigger loan_repayments_cannot_be_truncated
  before truncate on loans_private.loan_repayments
  for each statement execute function private.refuse_change('loan repayments are kept for replays');

create trigger close_of_business_runs_come_from_the_run
  before insert or update or delete on loans_private.close_of_business_runs
  for each row when (current_user <> 'ledger_owner')
  execute function private.refuse_change('close of business runs are written only by the run');
create trigger close_of_business_runs_cannot_be_truncated
  before truncate on loans_private.close_of_business_runs
  for each statement execute function private.refuse_change('close of business runs are kept');

-- Rate-limit counters: only the money-moving functions count.
create trigger transfer_limits_come_from_the_ledger
  before insert or update or delete on public.transfer_limits
  for each row when (current_user <> 'ledger_owner')
  execute function private.refuse_change('rate-limit counters are kept by the ledger''s functions');
create trigger transfer_limits_cannot_be_truncated
  before truncate on public.transfer_limits
  for each statement execute function private.refuse_change('rate-limit counters are kept by the ledger''s functions');

-- Loan products: edited by staff and audited, but never truncated.
create trigger loan_products_cannot_be_truncated
  before truncate on public.loan_products
  for each statement execute function private.refuse_change('loan products are referenced by loans');
