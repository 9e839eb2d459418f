-- The guards that keep dashboard edits from breaking the ledger.
--
-- Staff edit tables in the Supabase dashboard as `postgres`, which bypasses
-- RLS and holds every grant. Triggers hold for every role:
--   * entries and transfers are append-only: update, delete and truncate are
--     refused, and so is an insert that does not come from the ledger's
--     functions (current_user `ledger_owner`, see 00_roles.sql);
--   * an account's balance and version change only through a posting, its
--     currency, owner, kind and system purpose never; a new account starts at
--     balance 0 and version 0; an account the ledger has ever used (entries,
--     transfers, pending credits, loans) cannot be deleted;
--   * status, nickname, overdraft limit and deferred-credits edits are
--     allowed (the check constraint still keeps a customer balance within the
--     overdraft) and written to the audit log, as is every other change to an
--     account but a posting's own update of balance, version and updated_at;
--     closing an account needs a zero balance, no pending credits and no loan
--     still open on it;
--   * each refusal names what does work (admin_deposit, transfer_funds, ...),
--     since staff meet these messages in the dashboard.
--
-- Postings are not copied into the audit log: each one is already recorded,
-- append-only, by its transfer row and its two entries, so an audit row per
-- posting would double the ledger's writes and say nothing new. The guard
-- triggers use WHEN clauses so a posting runs no trigger function at all.
--
-- A superuser, or a role granted membership in `ledger_owner`, can still
-- `set role ledger_owner` or disable the triggers; the entries' hash chain is
-- what makes such an edit visible afterwards: verify_ledger(), at the end of
-- this file (docs/decisions/0001-ledger-guards-trust-the-owning-role.md,
-- docs/decisions/0011-hash-chained-entries.md).

create function private.guard_account_update()
returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
  if (new.balance, new.version, new.held_minor) is distinct from (old.balance, old.version, old.held_minor) then
    raise exception using
      errcode = 'BK011',
      message = format('account (id=%s): balances change only through a transfer: use '
                       'public.admin_deposit / public.admin_withdraw or public.transfer_funds', old.id);
  end if;
  if new.currency is distinct from old.currency then
    raise exception using
      errcode = 'BK011',
      message = format('account (id=%s): its currency (%s) never changes, every amount on it is in %s; '
                       'open a new account in the other currency and move the money with '
                       'public.admin_withdraw / public.admin_deposit', old.id, old.currency, old.currency);
  end if;
  if (new.owner_id, new.kind, new.system_purpose, new.id, new.account_number, new.created_at)
     is distinct from
     (old.owner_id, old.kind, old.system_purpose, old.id, old.account_number, old.created_at) then
    raise exception using
      errcode = 'BK011',
      message = format('account (id=%s): only status, nickname, overdraft_limit and deferred_credits '
                       'can be edited; for another owner or kind, open a new account', old.id);
  end if;
  if new.status = 'closed' and old.status <> 'closed' then
    perform private.check_account_can_close(old);
  end if;
  new.updated_at := now();
  return new;
end;
$$;

-- Closing: nothing may be left on the account or still owed through it.
create function private.check_account_can_close(p_account public.accounts)
returns void
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_loan record;
begin
  if p_account.balance <> 0 then
    raise exception using
      errcode = 'BK011',
      message = format('account (id=%s) holds %s and cannot be closed; move the balance out first '
                       '(public.admin_withdraw or public.transfer_funds)', p_account.id,
                       private.format_amount(p_account.balance, p_account.currency));
  end if;
  if exists (select from public.pending_credits where account_id = p_account.id) then
    raise exception using
      errcode = 'BK011',
      message = format('account (id=%s) has pending credits and cannot be closed; settle them first '
                       '(public.settle_pending_credits)', p_account.id);
  end if;
  if p_account.held_minor <> 0 then
    raise exception using
      errcode = 'BK011',
      message = format('account (id=%s) has open holds and cannot be closed; capture or void them '
                       '(public.capture_hold, public.void_hold) or release expired ones '
                       '(public.expire_holds) first', p_account.id);
  end if;
  select l.* into v_loan from public.loans as l
   where l.account_id = p_account.id and l.status in ('pending', 'active', 'overdue')
   order by l.created_at
   limit 1;
  if found then
    raise exception using
      errcode = 'BK011',
      message = format('account (id=%s) cannot be closed: loan (id=%s) is %s on it; it must be '
                       'paid off, written off (public.admin_loan_write_off) or decided first',
                       p_account.id, v_loan.id, v_loan.status);
  end if;
end;
$$;

create function private.guard_account_insert()
returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
  if new.balance <> 0 or new.version <> 0 or new.held_minor <> 0 then
    raise exception using
      errcode = 'BK011',
      message = 'a new account starts with balance 0, version 0 and nothing held; money arrives '
                'through a transfer';
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
  if exists (select from public.entries where account_id = old.id)
     or exists (select from public.transfers where from_account_id = old.id or to_account_id = old.id)
     or exists (select from public.pending_credits where account_id = old.id)
     or exists (select from public.holds where from_account_id = old.id or to_account_id = old.id)
     or exists (select from public.loans where account_id = old.id) then
    raise exception using
      errcode = 'BK011',
      message = format('account (id=%s) is part of the ledger''s history and cannot be deleted; '
                       'close it instead (update public.accounts set status = ''closed'')', old.id);
  end if;
  return old;
end;
$$;

revoke execute on function
  private.write_audit_log(),
  private.refuse_change(),
  private.guard_account_update(),
  private.check_account_can_close(public.accounts),
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

-- Every update of an account is audited but a posting's own (balance,
-- version and updated_at, recorded by its transfer and entries).

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

-- Rate-limit counters: kept by the money-moving functions only.
create trigger transfer_limits_come_from_the_ledger
  before insert or update or delete on public.transfer_limits
  for each row when (current_user <> 'ledger_owner')
  execute function private.refuse_change('rate-limit counters are kept by the ledger''s functions');

create trigger transfer_limits_cannot_be_truncated
  before truncate on public.transfer_limits
  for each statement execute function private.refuse_change('rate-limit counters are kept by the ledger''s functions');


-- Currencies and idempotency records hold for every role.
--
-- Every amount in the ledger is minor units of its currency's exponent, so
-- changing `currencies.exponent` while an account uses the currency would
-- silently re-denominate every balance: the exponent cannot change once an
-- account holds the currency; every insert, update and delete is audited;
-- truncate is refused (accounts, loans and products reference them).
--
-- An idempotency record is the only thing that makes the retry of a paid
-- request a replay instead of a second payment. Records are append-only for
-- every role: inserted only by the ledger's functions; updated only by the
-- ledger, only in the transaction that claimed the record, and only from the
-- claim to a stored refusal (private.refuse); never deleted except by
-- private.purge_idempotency_keys, and never truncated.
--
-- Retention: a record is kept at least 30 days. Clients retry a money call
-- with the same key after a timeout or a 503 (an unknown outcome), including
-- a phone that was offline for days; 30 days is longer than any retry policy
-- docs/sql-contract.md documents and than the 24 hours payment APIs commonly
-- promise, and a key younger than that is never removed, not even by the purge.

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

-- Ledger verification -----------------------------------------------------------

-- Recompute every account's hash chain and answer every break, one row each,
-- named by account and entry; no rows when the ledger is as the postings
-- wrote it. Each entry is checked against the stored hash of the entry
-- before it, so one edit is named where it was made:
--   * entry_altered: the entry's hash does not match its fields and the
--     previous entry's hash (a field edited, or a hash replaced);
--   * entries_missing: the versions before this entry do not run on from
--     the previous one (entries deleted, or a version edited);
--   * head_mismatch: the account's version is not its last entry's version
--     (entries deleted at the end, or an entry added past the posting);
--     entry_id is the last entry's id, null when the account has none.
-- A chain proves what the database holds was written in order by the
-- postings, not that nobody rewrote the whole chain after an edit: that
-- needs the chain heads copied somewhere the database's superuser cannot
-- write. Staff only (the dashboard, service_role, an admin's token):
-- sql/checks/09 runs it.
create function private.verify_ledger()
returns table (
  account_id uuid, entry_id bigint, account_version bigint, problem text, detail text
)
language sql
stable
security definer
set search_path = ''
as $$
  select private.require_staff('verify_ledger');
  with chained as (
    select e.*,
           lag(e.hash) over w as previous_hash,
           coalesce(lag(e.account_version) over w, 0) as previous_version
      from public.entries as e
    window w as (partition by e.account_id order by e.account_version)
  ), breaks as (
    select c.account_id, c.id as entry_id, c.account_version, 'entries_missing' as problem,
           format('account (id=%s) has no entries with versions %s to %s before entry (id=%s)',
                  c.account_id, c.previous_version + 1, c.account_version - 1, c.id) as detail
      from chained as c
     where c.account_version <> c.previous_version + 1
    union all
    select c.account_id, c.id, c.account_version, 'entry_altered',
           format('entry (id=%s, version %s) of account (id=%s) does not match its hash',
                  c.id, c.account_version, c.account_id)
      from chained as c
     where c.account_version = c.previous_version + 1
       and c.hash is distinct from private.entry_hash(
             c.previous_hash, c.transfer_id, c.account_id, c.account_version, c.amount,
             c.balance_after, c.counterparty_account_id, c.description, c.created_at)
    union all
    select a.id, last.id, a.version, 'head_mismatch',
           format('account (id=%s) is at version %s but its last entry (id=%s) is version %s',
                  a.id, a.version, last.id, coalesce(last.account_version, 0))
      from public.accounts as a
      left join lateral (
        select e.id, e.account_version from public.entries as e
         where e.account_id = a.id
         order by e.account_version desc
         limit 1
      ) as last on true
     where a.version <> coalesce(last.account_version, 0)
  )
  select b.account_id, b.entry_id, b.account_version, b.problem, b.detail
    from breaks as b
   order by b.account_id, b.account_version, b.problem
$$;

alter function private.verify_ledger() owner to ledger_owner;

revoke execute on function private.verify_ledger() from public;

grant execute on function private.verify_ledger() to authenticated, service_role;

create function public.verify_ledger()
returns table (
  account_id uuid, entry_id bigint, account_version bigint, problem text, detail text
)
language sql
stable
security invoker
set search_path = ''
as $$
  select * from private.verify_ledger()
$$;

revoke execute on function public.verify_ledger() from public, anon, authenticated, service_role;

grant execute on function public.verify_ledger() to authenticated, service_role;
