-- @@ migration header 20261123000600_audit_guards.sql
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
-- @@ end header

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
  for each row when (current_user <> 'ledger_owner')
  execute function private.refuse_change('entries are written only by the ledger''s functions');

create trigger transfers_are_append_only
  before update or delete on public.transfers
  for each row execute function private.refuse_change('transfers are append-only');

create trigger transfers_cannot_be_truncated
  before truncate on public.transfers
  for each statement execute function private.refuse_change('transfers are append-only');

create trigger transfers_come_from_postings
  before insert on public.transfers
  for each row when (current_user <> 'ledger_owner')
  execute function private.refuse_change('transfers are written only by the ledger''s functions');

create trigger accounts_guard_update
  before update on public.accounts
  for each row when (current_user <> 'ledger_owner')
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
  after insert or delete on public.accounts
  for each row execute function private.write_audit_log();

-- The audit log itself is append-only too.
create trigger audit_log_is_append_only
  before update or delete on public.audit_log
  for each row execute function private.refuse_change('the audit log is append-only');

create trigger audit_log_cannot_be_truncated
  before truncate on public.audit_log
  for each statement execute function private.refuse_change('the audit log is append-only');

-- @@ migration header 20261203000100_ledger_owner_role.sql
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
-- @@ end header

create trigger accounts_audit_updates
  after update on public.accounts
  for each row when (
    -- column by column: pg-delta does not round-trip a row comparison here
    current_user <> 'ledger_owner'
    or old.status is distinct from new.status
    or old.nickname is distinct from new.nickname
    or old.overdraft_limit is distinct from new.overdraft_limit
    or old.deferred_credits is distinct from new.deferred_credits
  )
  execute function private.write_audit_log();

-- The audit log is written only by the audit trigger's function.
create trigger audit_log_comes_from_the_audit_trigger
  before insert on public.audit_log
  for each row when (current_user <> 'ledger_owner')
  execute function private.refuse_change('the audit log is written only by the audit trigger');

-- Repayment replies and close-of-business runs: written only by the loan
-- functions, never deleted or truncated.
create trigger transfer_limits_come_from_the_ledger
  before insert or update or delete on public.transfer_limits
  for each row when (current_user <> 'ledger_owner')
  execute function private.refuse_change('rate-limit counters are kept by the ledger''s functions');

create trigger transfer_limits_cannot_be_truncated
  before truncate on public.transfer_limits
  for each statement execute function private.refuse_change('rate-limit counters are kept by the ledger''s functions');

-- Loan products: edited by staff and audited, but never truncated.
-- @@ migration header 20261203000200_reference_data_guards.sql
-- Currencies and idempotency records hold for every role.
--
-- Why: every amount in the ledger is minor units of its currency's exponent,
-- so changing `currencies.exponent` while an account uses the currency
-- silently re-denominates every balance and every later request (one
-- transaction turned a one-dollar transfer into a one-cent one). And an
-- idempotency record is the only thing that makes the retry of a paid request
-- a replay instead of a second payment: deleting or editing one re-opens the
-- request. Neither was guarded against the dashboard.
--
-- Currencies: the exponent cannot change once an account holds the currency;
-- every insert, update and delete is audited; truncate is refused (accounts,
-- loans and products reference them, and the cash accounts are made per
-- currency).
--
-- Idempotency records are append-only for every role: inserted only by the
-- ledger's functions (running as ledger_owner); updated only by the ledger,
-- only in the transaction that claimed the record, and only from the claim
-- (201 with the planned transfer id) to a stored refusal, which is how
-- private.refuse records a business failure; never deleted except by
-- private.purge_idempotency_keys, and never truncated.
--
-- Retention: a record is kept at least 30 days. Clients retry a money call
-- with the same key after a timeout or a 503 (an unknown outcome), including
-- a phone that was offline for days; 30 days is longer than any retry policy
-- we document (docs/sql-contract.md) and than the 24 hours payment APIs
-- commonly promise, and a key younger than that can never be removed, not
-- even by the purge.
-- @@ end header

create function private.guard_currency_update()
returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
  if new.exponent is distinct from old.exponent
     and exists (select from public.accounts where currency = old.code) then
    raise exception using
      errcode = 'BK011',
      message = format('currency (code=%s): the exponent cannot change once an account holds it; '
                       'every amount in %s is stored in its minor units', old.code, old.code);
  end if;
  return new;
end;
$$;

revoke execute on function private.guard_currency_update() from public;

create trigger currencies_guard_update
  before update on public.currencies
  for each row execute function private.guard_currency_update();

create trigger currencies_cannot_be_truncated
  before truncate on public.currencies
  for each statement execute function private.refuse_change('accounts and loans are denominated in currencies');

create trigger currencies_audit_changes
  after insert or update or delete on public.currencies
  for each row execute function private.write_audit_log();

-- Idempotency records --------------------------------------------------------

-- The one update the ledger makes: private.refuse turning this transaction's
-- claim into a stored refusal. `created_at` is the claiming transaction's
-- now(), so `old.created_at = now()` means "claimed by this transaction".
create function private.guard_idempotency_record_update()
returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
  if current_user = 'ledger_owner'
     and old.created_at = now()
     and old.result is null and old.http_status = 201
     and new.transfer_id is null and new.result is not null
     and (new.caller_id, new.key, new.request_hash, new.created_at)
         = (old.caller_id, old.key, old.request_hash, old.created_at) then
    return new;
  end if;
  raise exception using
    errcode = 'BK011',
    message = format('idempotency record (key=%s) is append-only: its outcome never changes', old.key);
end;
$$;

-- Deletion: only the purge (running as ledger_owner), only of records older
-- than the retention floor.
create function private.guard_idempotency_record_delete()
returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
  if current_user = 'ledger_owner'
     and old.created_at < now() - private.idempotency_retention() then
    return old;
  end if;
  raise exception using
    errcode = 'BK011',
    message = format('idempotency record (key=%s) is kept %s; only private.purge_idempotency_keys '
                     'removes older ones', old.key, private.idempotency_retention());
end;
$$;

-- How long every idempotency record is kept, at least (see the header).
create function private.idempotency_retention()
returns interval
language sql
immutable
security invoker
set search_path = ''
as $$
  select interval '30 days'
$$;

revoke execute on function
  private.guard_idempotency_record_update(),
  private.guard_idempotency_record_delete(),
  private.idempotency_retention()
from public;

grant execute on function private.idempotency_retention() to ledger_owner;

create trigger idempotency_records_come_from_the_ledger
  before insert on public.idempotency_records
  for each row when (current_user <> 'ledger_owner')
  execute function private.refuse_change('idempotency records are written only by the ledger''s functions');

create trigger idempotency_records_keep_their_outcome
  before update on public.idempotency_records
  for each row execute function private.guard_idempotency_record_update();

create trigger idempotency_records_are_kept
  before delete on public.idempotency_records
  for each row execute function private.guard_idempotency_record_delete();

create trigger idempotency_records_cannot_be_truncated
  before truncate on public.idempotency_records
  for each statement execute function private.refuse_change('idempotency records are removed only by private.purge_idempotency_keys');

-- The only way to remove idempotency records: those created before
-- `p_older_than` ago, which may not be shorter than the retention floor.
-- Staff only (the dashboard, pg_cron, service_role). Answers how many it
-- removed. Schedule it on hosted Supabase with pg_cron, e.g. daily:
--   select cron.schedule('purge-idempotency-keys', '17 3 * * *',
--                        $$select private.purge_idempotency_keys(interval '30 days')$$);
create function private.purge_idempotency_keys(p_older_than interval)
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_removed bigint;
begin
  perform private.require_staff('purge_idempotency_keys');
  if p_older_than is null or p_older_than < private.idempotency_retention() then
    perform private.raise_invalid('p_older_than',
      format('idempotency records are kept at least %s', private.idempotency_retention()));
  end if;
  delete from public.idempotency_records where created_at < now() - p_older_than;
  get diagnostics v_removed = row_count;
  return v_removed;
end;
$$;

alter function private.purge_idempotency_keys(interval) owner to ledger_owner;

revoke execute on function private.purge_idempotency_keys(interval) from public;

grant execute on function private.purge_idempotency_keys(interval) to service_role;
