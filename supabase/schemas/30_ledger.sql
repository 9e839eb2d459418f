-- The ledger proper: transfers, their entries, idempotency records and the
-- per-user transfer counters, and the posting function other domains call
-- (private.post_transfer; the statement itself is
-- private.post_transfer_with_entries in 40_transfers.sql, beside the deferred
-- credits it also writes).
--
-- Double entry: every movement of money is one `transfers` row and two
-- `entries` rows whose amounts sum to zero; deposits and withdrawals move
-- money against the bank's system cash account, so they are transfers too.
-- Each entry records the balance it left and the account version it
-- produced, so an account's history can be checked row by row (sql/checks).
-- Each entry also carries `hash`, sha256 of the previous entry's hash of the
-- same account and the entry's own fields (private.entry_hash): a chain per
-- account, written under the lock the posting holds on that account anyway,
-- so no global serialisation point appears. verify_ledger()
-- (60_audit_and_guards.sql) recomputes the chains, so an edit made past the
-- guards (triggers disabled by a superuser) is visible afterwards.
-- Entries and transfers are append-only (60_audit_and_guards.sql).
--
-- Idempotency records are keyed by (caller, key) and hold a sha256 of the
-- canonical request. A success stores the transfer's id (the reply is rebuilt
-- from the transfer row, so first answer and replay cannot differ); a
-- business failure stores the error object, so a retry can never turn a
-- refusal into a transfer. Callers without a user (the service_role key, the
-- dashboard) share the nil uuid: "the bank".
--
-- transfer_limits holds one row per (user, currency): what the user sent
-- today (UTC) and a fixed one-minute window counter for the rate limit. One
-- upsert per transfer maintains both, so the limits hold across every
-- function instance without a second round trip.
--
-- Idempotency records have no foreign key to transfers: the record is claimed
-- (inserted) before the transfer exists, and a deferred constraint would cost
-- every transfer a commit-time check; sql/checks/06 verifies the link instead.

create table public.transfers (
  id uuid primary key default gen_random_uuid(),
  kind text not null check (kind in ('transfer', 'deposit', 'withdrawal',
                                     'loan_disbursement', 'loan_repayment', 'loan_write_off',
                                     'reversal')),
  from_account_id uuid not null references public.accounts (id),
  to_account_id uuid not null references public.accounts (id),
  amount bigint not null check (amount > 0),
  -- The currency of both accounts (each references currencies); no foreign key
  -- of its own, which would cost every transfer a lookup proving nothing new.
  currency text not null,
  description text check (char_length(description) <= 280),
  status text not null default 'posted' check (status = 'posted'),
  -- auth.uid() of whoever started it; null for the dashboard and service_role.
  initiated_by uuid,
  created_at timestamptz not null default now(),
  constraint transfers_between_two_accounts check (from_account_id <> to_account_id)
);

-- The policies filter on both sides.
create index transfers_from_account_id_idx on public.transfers (from_account_id);

create index transfers_to_account_id_idx on public.transfers (to_account_id);

alter table public.transfers enable row level security;

revoke all on table public.transfers from anon, authenticated, service_role;

grant select on table public.transfers to authenticated, service_role;

create policy "Parties can read their transfers and admins every transfer"
  on public.transfers for select to authenticated
  using (
    from_account_id in (select id from public.accounts where owner_id = (select auth.uid()))
    or to_account_id in (select id from public.accounts where owner_id = (select auth.uid()))
    or (select private.is_admin())
  );

create table public.entries (
  id bigint generated always as identity primary key,
  transfer_id uuid not null references public.transfers (id),
  account_id uuid not null references public.accounts (id),
  amount bigint not null check (amount <> 0),
  balance_after bigint not null,
  account_version bigint not null check (account_version > 0),
  description text check (char_length(description) <= 280),
  -- The other side of the transfer, copied so a statement line needs no join.
  counterparty_account_id uuid not null,
  created_at timestamptz not null default now(),
  -- private.entry_hash of the account's previous entry's hash and this row.
  hash bytea not null check (length(hash) = 32),
  constraint entries_one_per_account_version unique (account_id, account_version)
);

-- Keyset paging per account (order=id.desc) and the policy's account_id filter.
create index entries_account_id_id_idx on public.entries (account_id, id);

create index entries_transfer_id_idx on public.entries (transfer_id);

-- The balance at a moment: the account's last entry at or before it, in
-- (created_at, account_version) order, is one backward step of this index
-- (docs/decisions/0012-holds-and-the-balance-at-a-moment.md).
create index entries_account_id_created_at_idx
  on public.entries (account_id, created_at, account_version);

alter table public.entries enable row level security;

revoke all on table public.entries from anon, authenticated, service_role;

grant select on table public.entries to authenticated, service_role;

create policy "Owners can read their accounts' entries and admins every entry"
  on public.entries for select to authenticated
  using (
    account_id in (select id from public.accounts where owner_id = (select auth.uid()))
    or (select private.is_admin())
  );

create table public.idempotency_records (
  caller_id uuid not null,
  key text not null check (char_length(key) between 1 and 255),
  request_hash bytea not null,
  http_status smallint not null,
  -- Set on success: the reply is the transfer row.
  transfer_id uuid,
  -- Set on a stored business failure: {"code", "message", "details", "hint"}.
  result jsonb,
  created_at timestamptz not null default now(),
  primary key (caller_id, key),
  constraint idempotency_records_one_outcome check ((transfer_id is null) <> (result is null))
);

alter table public.idempotency_records enable row level security;

revoke all on table public.idempotency_records from anon, authenticated, service_role;

grant select on table public.idempotency_records to authenticated, service_role;

create policy "Callers can read their idempotency records, admins all of them"
  on public.idempotency_records for select to authenticated
  using (caller_id = (select auth.uid()) or (select private.is_admin()));

create table public.transfer_limits (
  user_id uuid not null references public.profiles (id) on delete cascade,
  -- Written only by transfer_funds, after it has read the currency row.
  currency text not null,
  day date not null,
  outgoing_minor bigint not null check (outgoing_minor >= 0),
  window_started_at timestamptz not null,
  window_count integer not null check (window_count >= 0),
  primary key (user_id, currency)
);

alter table public.transfer_limits enable row level security;

revoke all on table public.transfer_limits from anon, authenticated, service_role;

grant select on table public.transfer_limits to authenticated, service_role;

create policy "Users can read their transfer limits and admins everyone's"
  on public.transfer_limits for select to authenticated
  using (user_id = (select auth.uid()) or (select private.is_admin()));

-- Money helpers ----------------------------------------------------------------

-- The error object a money-moving RPC stores and returns for a business
-- failure: the same four fields PostgREST gives a raised error.
create function private.error_object(p_code text, p_message text, p_details text default null)
returns jsonb
language sql
immutable
security invoker
set search_path = ''
as $$
  select jsonb_build_object('code', p_code, 'message', p_message, 'details', p_details, 'hint', null)
$$;

-- Raise a validation error (BK009) naming the parameter in `details`.
create function private.raise_invalid(p_parameter text, p_message text)
returns void
language plpgsql
security invoker
set search_path = ''
as $$
begin
  raise exception using errcode = 'BK009', message = p_message, detail = p_parameter;
end;
$$;

-- Major units to minor units for a currency of `p_exponent` decimals,
-- refusing (never rounding) an amount that is missing, not positive, has more
-- decimals than the currency, or does not fit a bigint: BK009 naming
-- `p_parameter` in details, in the words the functions' edge validation uses
-- ("has more decimals than USD allows (at most 2)"). Every RPC that takes an
-- amount converts it here.
create function private.minor_units(
  p_amount numeric, p_exponent smallint, p_parameter text default 'p_amount',
  p_currency text default null
)
returns bigint
language plpgsql
immutable
security invoker
set search_path = ''
as $$
declare
  v_minor numeric := p_amount * (10::numeric ^ p_exponent);
  v_name text := regexp_replace(p_parameter, '^p_', '');
begin
  if p_amount is null then
    perform private.raise_invalid(p_parameter, format('%s is required', v_name));
  end if;
  if p_amount <= 0 then
    perform private.raise_invalid(p_parameter,
      format('%s (%s) must be greater than zero', v_name, p_amount));
  end if;
  if v_minor <> trunc(v_minor) then
    perform private.raise_invalid(p_parameter,
      format('%s (%s) has more decimals than %s allows (%s)', v_name, p_amount,
             coalesce(p_currency, 'its currency'),
             case when p_exponent = 0 then 'none' else format('at most %s', p_exponent) end));
  end if;
  if v_minor > 9223372036854775807 then
    perform private.raise_invalid(p_parameter, format('%s (%s) is too large', v_name, p_amount));
  end if;
  return v_minor::bigint;
end;
$$;

-- The caller of a customer RPC: a signed-in user, or BK010.
create function private.require_user(p_action text)
returns uuid
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_uid uuid := auth.uid();
begin
  if v_uid is null then
    raise exception using errcode = 'BK010', message = format('%s needs a signed-in user', p_action);
  end if;
  return v_uid;
end;
$$;

-- The idempotency key every money-moving RPC takes, by the rule the functions
-- document (functions/core/_fields.py IDEMPOTENCY_KEY): 1 to 255 characters
-- of A-Z a-z 0-9 _ . : -
-- The length is checked apart from the characters: Postgres's regex engine
-- expands a bounded repeat such as {1,255} into that many states, which costs
-- about 60 µs per call on a 36-character key against about 1 µs for `+`, and
-- every money-moving call runs this check.
create function private.require_idempotency_key(p_key text)
returns void
language plpgsql
immutable
security invoker
set search_path = ''
as $$
begin
  if p_key is null or char_length(p_key) > 255 or p_key !~ '^[A-Za-z0-9_.:-]+$' then
    perform private.raise_invalid('p_idempotency_key',
      'idempotency key must be 1 to 255 characters of A-Z a-z 0-9 _ . : -');
  end if;
end;
$$;

-- Posting ----------------------------------------------------------------------

-- The hash that chains an entry to the previous entry of its account:
-- sha256(previous hash || canonical fields), the previous hash empty for an
-- account's first entry. The fields are their fixed-width binary send forms
-- (uuid 16 bytes, bigint 8 bytes big-endian, created_at as epoch microseconds
-- so the bytes do not depend on the session's TimeZone), in the order of the
-- parameters, then the description last, after a byte that tells null
-- (0x00) from text (0x01 and its UTF-8 bytes): no field can run into the
-- next. The id is left out: it is drawn from a sequence while the row is
-- inserted, and the chain orders entries by account_version.
--
-- This is the definition verify_ledger() and the settle use. A SQL function
-- with a SET clause is never inlined, and the Supabase security advisor
-- requires the setting on every function, so the hot path
-- (private.post_transfer_with_entries, 40_transfers.sql) writes the same
-- expression out in its posting statement; every test that runs
-- sql/checks/09 proves that the two agree
-- (docs/decisions/0016-hash-chain-written-out-in-the-posting.md).
create function private.entry_hash(
  p_previous_hash bytea,
  p_transfer_id uuid,
  p_account_id uuid,
  p_account_version bigint,
  p_amount bigint,
  p_balance_after bigint,
  p_counterparty_account_id uuid,
  p_description text,
  p_created_at timestamptz
)
returns bytea
language sql
stable
security invoker
set search_path = ''
as $$
  select pg_catalog.sha256(
    coalesce(p_previous_hash, ''::bytea)
      || pg_catalog.uuid_send(p_transfer_id)
      || pg_catalog.uuid_send(p_account_id)
      || pg_catalog.int8send(p_account_version)
      || pg_catalog.int8send(p_amount)
      || pg_catalog.int8send(p_balance_after)
      || pg_catalog.uuid_send(p_counterparty_account_id)
      || pg_catalog.int8send((extract(epoch from p_created_at) * 1000000)::bigint)
      || case when p_description is null then '\x00'::bytea
              else '\x01'::bytea || pg_catalog.convert_to(p_description, 'UTF8') end)
$$;

-- The posting for callers that lock both accounts (staff deposits and
-- withdrawals, loans, holds): private.post_transfer_with_entries
-- (40_transfers.sql) writes it; the caller has locked both rows and checked
-- every rule.
create function private.post_transfer(
  p_transfer_id uuid,
  p_kind text,
  p_from public.accounts,
  p_to public.accounts,
  p_amount_minor bigint,
  p_description text,
  p_initiated_by uuid
)
returns public.transfers
language plpgsql
security invoker
set search_path = ''
as $$
begin
  return private.post_transfer_with_entries(
    p_transfer_id, p_kind, p_from, p_to, p_amount_minor, p_description, p_initiated_by, false);
end;
$$;

-- Claim an idempotency key. True when this call is the first with the key;
-- false when a record exists (a concurrent first call has committed by then:
-- the unique index made this insert wait for it).
create function private.claim_idempotency_key(
  p_caller_id uuid, p_key text, p_request_hash bytea, p_transfer_id uuid
)
returns boolean
language plpgsql
security invoker
set search_path = ''
as $$
begin
  insert into public.idempotency_records (caller_id, key, request_hash, http_status, transfer_id)
  values (p_caller_id, p_key, p_request_hash, 201, p_transfer_id)
  on conflict do nothing;
  return found;
end;
$$;

-- The stored outcome for a key already used: the transfer with
-- "replayed": true, or the stored failure with its HTTP status. The same key
-- with a different request is a conflict, raised (never stored).
create function private.replay_idempotency_key(
  p_caller_id uuid, p_key text, p_request_hash bytea
)
returns jsonb
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_record public.idempotency_records;
begin
  select * into strict v_record
    from public.idempotency_records
   where caller_id = p_caller_id and key = p_key;
  if v_record.request_hash <> p_request_hash then
    raise exception using
      errcode = 'BK006',
      message = format('idempotency key (%s) was already used for a different request', p_key),
      detail = p_key;
  end if;
  if v_record.transfer_id is not null then
    return (select to_jsonb(t) || '{"replayed": true}'::jsonb
              from public.transfers as t where t.id = v_record.transfer_id);
  end if;
  perform set_config('response.status', v_record.http_status::text, true);
  return v_record.result || '{"replayed": true}'::jsonb;
end;
$$;

-- Store a business failure under the claimed key and answer it: PostgREST
-- sends the returned object with `response.status`, and the transaction
-- commits only the idempotency record. A refusal is returned, not raised, so
-- that its idempotency record commits, and PostgREST can only learn its status
-- from the transaction: the status is the error table's, read from
-- private.error_statuses (11_error_statuses.sql, generated from
-- functions/core/_error_table.py).
create function private.refuse(
  p_caller_id uuid, p_key text, p_code text, p_message text, p_details text default null
)
returns jsonb
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_error jsonb := private.error_object(p_code, p_message, p_details);
  v_status smallint;
begin
  select e.http_status into strict v_status from private.error_statuses as e
   where e.sqlstate = p_code;
  update public.idempotency_records
     set http_status = v_status, transfer_id = null, result = v_error
   where caller_id = p_caller_id and key = p_key;
  perform set_config('response.status', v_status::text, true);
  return v_error || '{"replayed": false}'::jsonb;
end;
$$;

revoke execute on function
  private.error_object(text, text, text),
  private.raise_invalid(text, text),
  private.minor_units(numeric, smallint, text, text),
  private.require_user(text),
  private.require_idempotency_key(text),
  private.entry_hash(bytea, uuid, uuid, bigint, bigint, bigint, uuid, text, timestamptz),
  private.post_transfer(uuid, text, public.accounts, public.accounts, bigint, text, uuid),
  private.claim_idempotency_key(uuid, text, bytea, uuid),
  private.replay_idempotency_key(uuid, text, bytea),
  private.refuse(uuid, text, text, text, text)
from public;
