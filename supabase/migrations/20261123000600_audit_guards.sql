-- Dashboard guards and the audit log.
--
-- Why: staff edit tables in the Supabase dashboard as `postgres`, which
-- bypasses RLS and holds every grant. Triggers hold for every role, so they
-- are what keeps those edits from breaking the ledger:
--   * entries and transfers are append-only: update, delete and truncate are
--     refused, and so is an insert that does not come from the ledger's
--     posting function;
--   * an account's balance, version, currency, owner, kind and system
--     purpose change only through a posting; a new account starts at balance
--     0 and version 0; an account with entries cannot be deleted;
--   * status, nickname and overdraft limit edits are allowed (the check
--     constraint still keeps a customer balance within the overdraft) and
--     written to the audit log, as is every other change to an account.
--
-- "Only through a posting" is the transaction-local setting
-- `ledger.posting`, which private.post_transfer turns on just around its
-- writes and off again. It is not a secret: it only matters to a role that
-- can already write accounts, entries or transfers, and through PostgREST no
-- role can (no insert/update/delete grant to anon, authenticated or
-- service_role), nor can a request set an arbitrary setting. So it keeps
-- honest dashboard edits from breaking the ledger; it does not stop a
-- superuser who sets it by hand or disables the triggers, and it is not meant
-- to.
--
-- What is audited, and why not every posting: the audit log gets a row for
-- every insert, update and delete of an account made outside a posting (who,
-- what, before, after). Postings are not copied into it: each one is already
-- recorded, append-only, by its transfer row (kind, amount, initiated_by,
-- created_at) and its two entries (balance_after, account_version), and
-- transfers cannot be changed any other way, so an audit row per posting
-- would double the ledger's writes (transfer_funds has to stay close to a
-- bare transfer in throughput) and say nothing new. The guard triggers use
-- WHEN clauses so a posting runs no trigger function at all.

create table public.audit_log (
  id bigint generated always as identity primary key,
  at timestamptz not null default now(),
  -- auth.uid() when there is one (an admin's token)...
  actor_id uuid,
  -- ...and otherwise the role: the token's role (service_role) or the database role (postgres).
  actor_role text not null,
  table_name text not null,
  row_id text not null,
  action text not null check (action in ('insert', 'update', 'delete')),
  before jsonb,
  after jsonb
);

alter table public.audit_log enable row level security;

revoke all on table public.audit_log from anon, authenticated, service_role;
grant select on table public.audit_log to authenticated, service_role;

create policy "Admins can read the audit log"
  on public.audit_log for select to authenticated
  using ((select private.is_admin()));

create function private.write_audit_log()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.audit_log (actor_id, actor_role, table_name, row_id, action, before, after)
  values (
    auth.uid(),
    coalesce(auth.role(), session_user),
    tg_table_name,
    case when tg_op = 'DELETE' then old.id else new.id end::text,
    lower(tg_op),
    case when tg_op <> 'INSERT' then to_jsonb(old) end,
    case when tg_op <> 'DELETE' then to_jsonb(new) end
  );
  return null;
end;
$$;

create function private.refuse_change()
returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
  raise exception using
    errcode = 'BK011',
    message = format('%s on %s is refused: %s', lower(tg_op), tg_table_name, tg_argv[0]);
end;
$$;

create function private.guard_account_update()
returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
  if (new.balance, new.version, new.currency, new.owner_id, new.kind, new.system_purpose, new.id,
      new.account_number, new.created_at)
     is distinct from
     (old.balance, old.version, old.currency, old.owner_id, old.kind, old.system_purpose, old.id,
      old.account_number, old.created_at) then
    raise exception using
      errcode = 'BK011',
      message = format('account (id=%s): only status, nickname and overdraft_limit can be edited; '
                       'balances change only through a transfer', old.id);
  end if;
  new.updated_at := now();
  return new;
end;
$$;

create function private.guard_account_insert()
returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
  if new.balance <> 0 or new.version <> 0 then
    raise exception using
      errcode = 'BK011',
      message = 'a new account starts with balance 0 and version 0; money arrives through a transfer';
  end if;
  return new;
end;
$$;

create function private.guard_account_delete()
returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
  if exists (select from public.entries where account_id = old.id) then
    raise exception using
      errcode = 'BK011',
      message = format('account (id=%s) has entries and cannot be deleted; close it instead', old.id);
  end if;
  return old;
end;
$$;

revoke execute on function
  private.write_audit_log(),
  private.refuse_change(),
  private.guard_account_update(),
  private.guard_account_insert(),
  private.guard_account_delete()
from public;

-- Entries and transfers: append-only, written only by a posting.
create trigger entries_are_append_only
  before update or delete on public.entries
  for each row execute function private.refuse_change('entries are append-only');
create trigger entries_cannot_be_truncated
  before truncate on public.entries
  for each statement execute function private.refuse_change('entries are append-only');
create trigger entries_come_from_postings
  before insert on public.entries
  for each row when (current_setting('ledger.posting', true) is distinct from 'on')
  execute function private.refuse_change('entries are written only by the ledger''s functions');

create trigger transfers_are_append_only
  before update or delete on public.transfers
  for each row execute function private.refuse_change('transfers are append-only');
create trigger transfers_cannot_be_truncated
  before truncate on public.transfers
  for each statement execute function private.refuse_change('transfers are append-only');
create trigger transfers_come_from_postings
  before insert on public.transfers
  for each row when (current_setting('ledger.posting', true) is distinct from 'on')
  execute function private.refuse_change('transfers are written only by the ledger''s functions');

-- Accounts: guarded and audited outside postings.
create trigger accounts_guard_update
  before update on public.accounts
  for each row when (current_setting('ledger.posting', true) is distinct from 'on')
  execute function private.guard_account_update();
create trigger accounts_guard_insert
  before insert on public.accounts
  for each row execute function private.guard_account_insert();
create trigger accounts_guard_delete
  before delete on public.accounts
  for each row execute function private.guard_account_delete();
create trigger accounts_cannot_be_truncated
  before truncate on public.accounts
  for each statement execute function private.refuse_change('accounts hold the ledger''s balances');
create trigger accounts_audit_changes
  after insert or update or delete on public.accounts
  for each row when (current_setting('ledger.posting', true) is distinct from 'on')
  execute function private.write_audit_log();

-- The audit log itself is append-only too.
create trigger audit_log_is_append_only
  before update or delete on public.audit_log
  for each row execute function private.refuse_change('the audit log is append-only');
create trigger audit_log_cannot_be_truncated
  before truncate on public.audit_log
  for each statement execute function private.refuse_change('the audit log is append-only');
