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
