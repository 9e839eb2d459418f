-- Holds: money reserved on an account until it is captured, voided or expires.
--
-- A hold is a two-phase transfer (a card authorisation): `place_hold` checks
-- every rule a transfer checks (ownership, status, currency, limits, funds)
-- and reserves the amount on the sender; `capture_hold` later posts a
-- transfer of at most that amount through the ledger's posting functions
-- (private.post_transfer / post_transfer_deferred) and releases the rest;
-- `void_hold` releases all of it; a hold not captured or voided by
-- `expires_at` releases itself.
--
-- What is reserved lives on the account row: `accounts.held_minor`, the sum
-- of the account's pending holds, changed only here, in the statement that
-- places or closes a hold and under the account's row lock. So every funds
-- check stays a comparison on one locked row (`balance - held_minor - amount
-- < -overdraft_limit`, in transfer_refusal, cash_refusal and the loans'
-- post_transfer), and the check constraint `accounts_holds_within_overdraft`
-- holds it for every writer: once placed, a hold can always be captured.
-- `balance` never moves until the capture posts.
--
-- Expiry: a hold whose `expires_at` has passed reserves nothing, whether or
-- not its row says so yet:
--   * reads need no write: public.held_minor_now(accounts) is what is held at
--     this moment (the pending holds not yet past their time), which the
--     functions subtract for available_balance, and public.hold_status(holds)
--     answers `expired` for a pending row past its time;
--   * capture and void refuse a hold past its time (BK011);
--   * every funds check on a sender that holds anything (`held_minor > 0`,
--     so an account without holds pays nothing) first runs
--     private.release_expired_holds under the lock it holds anyway: the rows
--     become `expired` and their amount leaves held_minor, so the check is
--     exact without waiting for a job;
--   * public.expire_holds() releases the rest, the job for accounts nobody
--     touches, to be scheduled with pg_cron on hosted Supabase (runs as
--     postgres, which counts as staff):
--       select cron.schedule('expire-holds', '1 minute', 'select public.expire_holds()');
--
-- Races: capture, void and expiry all lock the sender's account row first
-- (capture both accounts, in id order, like a transfer), then the hold row,
-- and re-read its status under the lock: exactly one of them closes the hold,
-- the others find it closed and get BK011 (409 invalid_state). Every
-- function takes account locks in id order and hold locks only after them,
-- so holds add no deadlock to the transfers.
--
-- Placing a hold takes an idempotency key under the transfers' rule. The
-- idempotency record's `transfer_id` names the hold (the request hash starts
-- with 'place_hold', so a key never answers a hold for a transfer request or
-- the other way round); a replay answers the hold as it is now. Placing
-- counts against the caller's rate limit and daily outgoing total like a
-- transfer; the capture counts nothing more.

create table public.holds (
  id uuid primary key default gen_random_uuid(),
  from_account_id uuid not null references public.accounts (id),
  to_account_id uuid not null references public.accounts (id),
  amount bigint not null check (amount > 0),
  currency text not null,
  description text check (char_length(description) <= 280),
  status text not null default 'pending'
    check (status in ('pending', 'captured', 'voided', 'expired')),
  captured_amount bigint not null default 0 check (captured_amount >= 0),
  released_amount bigint not null default 0 check (released_amount >= 0),
  capture_transfer_id uuid unique references public.transfers (id),
  -- auth.uid() of whoever placed it.
  initiated_by uuid,
  expires_at timestamptz not null,
  created_at timestamptz not null default now(),
  closed_at timestamptz,
  constraint holds_between_two_accounts check (from_account_id <> to_account_id),
  -- A pending hold has neither captured nor released anything; a closed one
  -- has done both to exactly its amount, and only a capture has a transfer.
  constraint holds_closed_account_for_their_amount check (
    case when status = 'pending'
         then captured_amount = 0 and released_amount = 0 and closed_at is null
         else captured_amount + released_amount = amount and closed_at is not null
    end
    and (status = 'captured') = (capture_transfer_id is not null)
    and (status = 'captured') = (captured_amount > 0)
  )
);

-- The policy's and the funds check's filter (a sender's pending holds), the
-- job's scan by time, and the receiver's foreign key.
create index holds_from_account_id_idx on public.holds (from_account_id, status);

create index holds_pending_expires_at_idx on public.holds (expires_at) where status = 'pending';

create index holds_to_account_id_idx on public.holds (to_account_id);

alter table public.holds enable row level security;

revoke all on table public.holds from anon, authenticated, service_role;

grant select on table public.holds to authenticated, service_role;

create policy "Senders can read their holds and admins every hold"
  on public.holds for select to authenticated
  using (
    from_account_id in (select id from public.accounts where owner_id = (select auth.uid()))
    or (select private.is_admin())
  );

-- Guarded like the ledger's tables: written only by the hold functions. A
-- hold's row changes in place when it closes, so those changes are audited;
-- its placement is the row itself.
create trigger holds_come_from_the_ledger
  before insert or update or delete on public.holds
  for each row when (current_user <> 'ledger_owner')
  execute function private.refuse_change(
    'holds are placed, captured and voided only by public.place_hold, public.capture_hold '
    'and public.void_hold');

create trigger holds_cannot_be_truncated
  before truncate on public.holds
  for each statement execute function private.refuse_change('holds reserve money on accounts');

create trigger holds_audit_changes
  after update or delete on public.holds
  for each row execute function private.write_audit_log();

-- What is held on the account at this moment: its pending holds not yet past
-- their time (see the header). Selected by PostgREST as a computed column.
create function public.held_minor_now(p_account public.accounts)
returns bigint
language sql
stable
security invoker
set search_path = ''
as $$
  select case when p_account.held_minor = 0 then 0::bigint
    else (select coalesce(sum(h.amount), 0)::bigint from public.holds as h
           where h.from_account_id = p_account.id and h.status = 'pending'
             and h.expires_at > now())
  end
$$;

-- A hold's status at this moment: `expired` for a pending row past its time.
create function public.hold_status(p_hold public.holds)
returns text
language sql
stable
security invoker
set search_path = ''
as $$
  select case when p_hold.status = 'pending' and p_hold.expires_at <= now() then 'expired'
              else p_hold.status end
$$;

revoke execute on function
  public.held_minor_now(public.accounts),
  public.hold_status(public.holds)
from public, anon, authenticated, service_role;

grant execute on function
  public.held_minor_now(public.accounts),
  public.hold_status(public.holds)
to authenticated, service_role, ledger_owner;

-- The reply of every hold RPC: the row in minor units, its status at this
-- moment, and whether an idempotent replay answered it.
create function private.hold_json(p_hold public.holds)
returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
  select to_jsonb(p_hold) - 'initiated_by' || jsonb_build_object('status', public.hold_status(p_hold))
$$;

-- Release the account's pending holds that are past their time: `expired`,
-- their whole amount released, off held_minor. The caller holds the
-- account's row lock; answers the row after the release.
create function private.release_expired_holds(p_account public.accounts)
returns public.accounts
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_released bigint;
  v_account public.accounts := p_account;
begin
  with expired as (
    update public.holds
       set status = 'expired', released_amount = amount, closed_at = now()
     where from_account_id = p_account.id and status = 'pending' and expires_at <= now()
    returning amount
  )
  select sum(amount) into v_released from expired;
  if v_released is not null then
    update public.accounts set held_minor = held_minor - v_released, updated_at = now()
     where id = p_account.id
    returning * into v_account;
  end if;
  return v_account;
end;
$$;

-- The bounds of expires_in_seconds: a default of seven days and at most thirty.
create function private.hold_lifetime(p_expires_in_seconds integer)
returns interval
language plpgsql
immutable
security invoker
set search_path = ''
as $$
begin
  if p_expires_in_seconds is null then
    return interval '7 days';
  end if;
  if p_expires_in_seconds not between 1 and 2592000 then
    perform private.raise_invalid('p_expires_in_seconds',
      format('expires_in_seconds (%s) must be between 1 and 2592000 (30 days)', p_expires_in_seconds));
  end if;
  return make_interval(secs => p_expires_in_seconds);
end;
$$;

-- The answer to a place_hold whose key is claimed already: the hold that
-- request placed, or what replay_idempotency_key answers (a stored refusal,
-- or BK006 raised for a different request).
create function private.hold_replay(p_caller uuid, p_idempotency_key text, p_hash bytea)
returns jsonb
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_record public.idempotency_records;
  v_hold public.holds;
begin
  select r.* into v_record from public.idempotency_records as r
   where r.caller_id = p_caller and r.key = p_idempotency_key;
  if v_record.request_hash <> p_hash or v_record.transfer_id is null then
    return private.replay_idempotency_key(p_caller, p_idempotency_key, p_hash);
  end if;
  select h.* into v_hold from public.holds as h where h.id = v_record.transfer_id;
  return private.hold_json(v_hold) || '{"replayed": true}'::jsonb;
end;
$$;

-- A hold's accounts as {sender, receiver}: the caller's sender locked, its
-- pending credits settled and its expired holds released (all fields null
-- when the caller owns no such account). Only the sender is locked: the hold
-- writes no other row. The receiver is read for the refusal and locked by the
-- capture.
create function private.lock_hold_accounts(
  p_from_account_id uuid, p_to_account_id uuid, p_caller uuid
)
returns public.accounts[]
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_from public.accounts;
  v_to public.accounts;
begin
  select * into v_from from public.accounts
   where id = p_from_account_id and owner_id = p_caller
     for no key update;
  select * into v_to from public.accounts where id = p_to_account_id;
  if v_from.deferred_credits then
    v_from := private.settle_account(v_from);
  end if;
  if v_from.held_minor > 0 then
    v_from := private.release_expired_holds(v_from);
  end if;
  return array[v_from, v_to];
end;
$$;

-- Reserve `p_amount` on the sender (locked by the caller) and write the hold.
create function private.reserve_hold(
  p_hold_id uuid, p_from_account_id uuid, p_to_account_id uuid, p_amount bigint,
  p_currency text, p_description text, p_caller uuid, p_lifetime interval
)
returns public.holds
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_hold public.holds;
begin
  with reserved as (
    update public.accounts set held_minor = held_minor + p_amount, updated_at = now()
     where id = p_from_account_id
  )
  insert into public.holds
    (id, from_account_id, to_account_id, amount, currency, description, initiated_by, expires_at)
  values
    (p_hold_id, p_from_account_id, p_to_account_id, p_amount, p_currency, p_description, p_caller,
     now() + p_lifetime)
  returning * into v_hold;
  return v_hold;
end;
$$;

create function private.place_hold(
  p_from_account_id uuid,
  p_to_account_id uuid,
  p_amount numeric,
  p_currency text,
  p_idempotency_key text,
  p_description text,
  p_expires_in_seconds integer
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_caller uuid := private.require_user('place_hold');
  v_currency public.currencies;
  v_amount bigint;
  v_counted bigint;
  v_lifetime interval;
  v_hash bytea;
  v_hold_id uuid := gen_random_uuid();
  v_limits public.transfer_limits;
  v_accounts public.accounts[];
  v_from public.accounts;
  v_to public.accounts;
  v_hold public.holds;
  v_refusal text[];
begin
  select * into v_currency from public.currencies where code = p_currency;
  if v_currency.code is null then
    perform private.raise_invalid('p_currency', format('currency (%s) is not supported', p_currency));
  end if;
  v_amount := private.minor_units(p_amount, v_currency.exponent, 'p_amount', v_currency.code);
  perform private.check_transfer_request(
    p_from_account_id, p_to_account_id, p_idempotency_key, p_description);
  v_lifetime := private.hold_lifetime(p_expires_in_seconds);

  v_hash := sha256(convert_to(jsonb_build_array(
    'place_hold', p_from_account_id, p_to_account_id, v_amount, p_currency, p_description,
    p_expires_in_seconds
  )::text, 'UTF8'));
  if not private.claim_idempotency_key(v_caller, p_idempotency_key, v_hash, v_hold_id) then
    return private.hold_replay(v_caller, p_idempotency_key, v_hash);
  end if;

  v_counted := case when v_amount > v_currency.max_transfer_minor then 0 else v_amount end;
  v_limits := private.count_money_movement(v_caller, p_currency, v_counted);

  v_accounts := private.lock_hold_accounts(p_from_account_id, p_to_account_id, v_caller);
  v_from := v_accounts[1];
  v_to := v_accounts[2];

  v_refusal := private.transfer_refusal(
    p_from_account_id, p_to_account_id, v_from, v_to, p_amount, v_amount, v_currency, v_limits);
  if v_refusal is not null then
    update public.transfer_limits
       set outgoing_minor = greatest(outgoing_minor - v_counted, 0)
     where user_id = v_caller and currency = p_currency;
    return private.refuse(v_caller, p_idempotency_key, v_refusal[1], v_refusal[2], v_refusal[3]);
  end if;

  v_hold := private.reserve_hold(
    v_hold_id, v_from.id, v_to.id, v_amount, p_currency, p_description, v_caller, v_lifetime);
  return private.hold_json(v_hold) || '{"replayed": false}'::jsonb;
end;
$$;

-- The hold `p_hold_id` as its sender's owner or staff may see it, or BK005
-- (another user's hold is not found: ids leak nothing). Read without a lock:
-- the accounts a hold names never change.
create function private.visible_hold(p_hold_id uuid)
returns public.holds
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_hold public.holds;
begin
  select h.* into v_hold from public.holds as h
   where h.id = p_hold_id
     and (private.is_staff()
          or exists (select from public.accounts as a
                      where a.id = h.from_account_id and a.owner_id = auth.uid()));
  if v_hold.id is null then
    raise exception using errcode = 'BK005', message = format('hold (id=%s) not found', p_hold_id);
  end if;
  return v_hold;
end;
$$;

-- The hold locked `for update` after its accounts, and still open, or BK011
-- naming what closed it (captured, voided, or expired: past its time even if
-- its row is not released yet).
create function private.lock_open_hold(p_hold_id uuid)
returns public.holds
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_hold public.holds;
begin
  select h.* into v_hold from public.holds as h where h.id = p_hold_id for update;
  if public.hold_status(v_hold) <> 'pending' then
    raise exception using errcode = 'BK011',
      message = format('hold (id=%s) is %s', v_hold.id, public.hold_status(v_hold)),
      detail = public.hold_status(v_hold);
  end if;
  return v_hold;
end;
$$;

-- Raise what a capture of `p_amount` from the open hold breaks: BK009 when it
-- is more than the hold reserves, BK004 when either account is not active.
create function private.check_capture(
  p_hold public.holds, p_amount bigint, p_from public.accounts, p_to public.accounts
)
returns void
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
  if p_amount > p_hold.amount then
    perform private.raise_invalid('p_amount', format('amount (%s) is more than the hold (id=%s) reserves (%s)',
      private.format_amount(p_amount, p_hold.currency), p_hold.id,
      private.format_amount(p_hold.amount, p_hold.currency)));
  end if;
  if p_from.status <> 'active' then
    raise exception using errcode = 'BK004',
      message = format('account (id=%s) is %s', p_from.id, p_from.status), detail = p_from.status;
  end if;
  if p_to.status <> 'active' then
    raise exception using errcode = 'BK004',
      message = format('account (id=%s) is %s', p_to.id, p_to.status), detail = p_to.status;
  end if;
end;
$$;

create function private.capture_hold(p_hold_id uuid, p_amount numeric)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_hold public.holds := private.visible_hold(p_hold_id);
  v_amount bigint;
  v_transfer_id uuid := gen_random_uuid();
  v_row public.accounts;
  v_from public.accounts;
  v_to public.accounts;
  v_to_locked boolean := false;
begin
  if p_amount is not null then
    v_amount := private.minor_units(p_amount, (select c.exponent from public.currencies as c
                                               where c.code = v_hold.currency),
                                    'p_amount', v_hold.currency);
  end if;
  -- Accounts first, in id order, as a transfer locks them; a receiver taking
  -- deferred credits is read, not locked (40_transfers.sql).
  for v_row in
    select * from public.accounts
     where id in (v_hold.from_account_id, v_hold.to_account_id)
       and (id = v_hold.from_account_id or not deferred_credits)
     order by id
       for no key update
  loop
    if v_row.id = v_hold.from_account_id then v_from := v_row; end if;
    if v_row.id = v_hold.to_account_id then v_to := v_row; v_to_locked := true; end if;
  end loop;
  if not v_to_locked then
    select * into v_to from public.accounts where id = v_hold.to_account_id;
  end if;
  v_hold := private.lock_open_hold(p_hold_id);
  v_amount := coalesce(v_amount, v_hold.amount);
  perform private.check_capture(v_hold, v_amount, v_from, v_to);
  if v_from.deferred_credits then
    v_from := private.settle_account(v_from);
  end if;
  v_from := private.release_expired_holds(v_from);

  -- The hold's whole amount leaves held_minor; the capture leaves the balance.
  update public.accounts set held_minor = held_minor - v_hold.amount, updated_at = now()
   where id = v_from.id
  returning * into v_from;
  if v_to_locked then
    perform private.post_transfer(
      v_transfer_id, 'transfer', v_from, v_to, v_amount, v_hold.description, auth.uid());
  else
    perform private.post_transfer_deferred(
      v_transfer_id, 'transfer', v_from, v_to, v_amount, v_hold.description, auth.uid());
  end if;
  update public.holds
     set status = 'captured', captured_amount = v_amount, released_amount = amount - v_amount,
         capture_transfer_id = v_transfer_id, closed_at = now()
   where id = v_hold.id
  returning * into v_hold;
  return private.hold_json(v_hold);
end;
$$;

create function private.void_hold(p_hold_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_hold public.holds := private.visible_hold(p_hold_id);
begin
  perform 1 from public.accounts where id = v_hold.from_account_id for no key update;
  v_hold := private.lock_open_hold(p_hold_id);
  with released as (
    update public.accounts set held_minor = held_minor - v_hold.amount, updated_at = now()
     where id = v_hold.from_account_id
  )
  update public.holds
     set status = 'voided', released_amount = amount, closed_at = now()
   where id = v_hold.id
  returning * into v_hold;
  return private.hold_json(v_hold);
end;
$$;

-- The job: release every hold past its time, one account at a time in id
-- order (the order transfers lock in). Answers how many holds it released.
-- Staff only: pg_cron and the dashboard (postgres), service_role, an admin.
create function private.expire_holds()
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_account public.accounts;
  v_released bigint := 0;
begin
  perform private.require_staff('expire_holds');
  for v_account in
    select a.* from public.accounts as a
     where a.id in (select h.from_account_id from public.holds as h
                     where h.status = 'pending' and h.expires_at <= now())
     order by a.id
       for no key update
  loop
    -- Under the account's lock nobody else places or closes its holds.
    v_released := v_released + (select count(*) from public.holds as h
                                 where h.from_account_id = v_account.id and h.status = 'pending'
                                   and h.expires_at <= now());
    perform private.release_expired_holds(v_account);
  end loop;
  return v_released;
end;
$$;

revoke execute on function
  private.hold_json(public.holds),
  private.release_expired_holds(public.accounts),
  private.hold_lifetime(integer),
  private.visible_hold(uuid),
  private.lock_open_hold(uuid),
  private.check_capture(public.holds, bigint, public.accounts, public.accounts),
  private.hold_replay(uuid, text, bytea),
  private.lock_hold_accounts(uuid, uuid, uuid),
  private.reserve_hold(uuid, uuid, uuid, bigint, text, text, uuid, interval),
  private.place_hold(uuid, uuid, numeric, text, text, text, integer),
  private.capture_hold(uuid, numeric),
  private.void_hold(uuid),
  private.expire_holds()
from public;

grant execute on function
  private.place_hold(uuid, uuid, numeric, text, text, text, integer),
  private.capture_hold(uuid, numeric),
  private.void_hold(uuid)
to authenticated;

grant execute on function
  private.capture_hold(uuid, numeric),
  private.void_hold(uuid),
  private.expire_holds()
to service_role;

grant execute on function private.expire_holds() to authenticated;

-- The RPCs PostgREST exposes: thin invoker wrappers.
create function public.place_hold(
  p_from_account_id uuid,
  p_to_account_id uuid,
  p_amount numeric,
  p_currency text,
  p_idempotency_key text,
  p_description text default null,
  p_expires_in_seconds integer default null
)
returns jsonb
language sql
volatile
security invoker
set search_path = ''
as $$
  select private.place_hold(p_from_account_id, p_to_account_id, p_amount, p_currency,
                            p_idempotency_key, p_description, p_expires_in_seconds)
$$;

create function public.capture_hold(p_hold_id uuid, p_amount numeric default null)
returns jsonb
language sql
volatile
security invoker
set search_path = ''
as $$
  select private.capture_hold(p_hold_id, p_amount)
$$;

create function public.void_hold(p_hold_id uuid)
returns jsonb
language sql
volatile
security invoker
set search_path = ''
as $$
  select private.void_hold(p_hold_id)
$$;

create function public.expire_holds()
returns bigint
language sql
volatile
security invoker
set search_path = ''
as $$
  select private.expire_holds()
$$;

revoke execute on function
  public.place_hold(uuid, uuid, numeric, text, text, text, integer),
  public.capture_hold(uuid, numeric),
  public.void_hold(uuid),
  public.expire_holds()
from public, anon, authenticated, service_role;

grant execute on function
  public.place_hold(uuid, uuid, numeric, text, text, text, integer)
to authenticated;

grant execute on function
  public.capture_hold(uuid, numeric),
  public.void_hold(uuid),
  public.expire_holds()
to authenticated, service_role;
