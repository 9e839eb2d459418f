SET local check_function_bodies = off;

CREATE TABLE "public"."holds" (
  "id"                  uuid                     NOT NULL DEFAULT gen_random_uuid(),
  "from_account_id"     uuid                     NOT NULL,
  "to_account_id"       uuid                     NOT NULL,
  "amount"              bigint                   NOT NULL,
  "currency"            text                     NOT NULL,
  "description"         text,
  "status"              text                     NOT NULL DEFAULT 'pending'::text,
  "captured_amount"     bigint                   NOT NULL DEFAULT 0,
  "released_amount"     bigint                   NOT NULL DEFAULT 0,
  "capture_transfer_id" uuid,
  "initiated_by"        uuid,
  "expires_at"          timestamp with time zone NOT NULL,
  "created_at"          timestamp with time zone NOT NULL DEFAULT now(),
  "closed_at"           timestamp with time zone,
  CONSTRAINT "holds_amount_check" CHECK ((amount > 0)),
  CONSTRAINT "holds_between_two_accounts" CHECK ((from_account_id <> to_account_id)),
  CONSTRAINT "holds_capture_transfer_id_key" UNIQUE (capture_transfer_id),
  CONSTRAINT "holds_captured_amount_check" CHECK ((captured_amount >= 0)),
  CONSTRAINT "holds_closed_account_for_their_amount" CHECK ((
CASE
    WHEN (status = 'pending'::text) THEN ((captured_amount = 0) AND (released_amount = 0) AND (closed_at IS NULL))
    ELSE (((captured_amount + released_amount) = amount) AND (closed_at IS NOT NULL))
END AND ((status = 'captured'::text) = (capture_transfer_id IS NOT NULL)) AND ((status = 'captured'::text) = (captured_amount > 0)))),
  CONSTRAINT "holds_description_check" CHECK ((char_length(description) <= 280)),
  CONSTRAINT "holds_pkey" PRIMARY KEY (id),
  CONSTRAINT "holds_released_amount_check" CHECK ((released_amount >= 0)),
  CONSTRAINT "holds_status_check" CHECK ((status = ANY (ARRAY['pending'::text, 'captured'::text, 'voided'::text, 'expired'::text])))
);

ALTER TABLE "public"."holds"
  ENABLE ROW LEVEL SECURITY;

REVOKE ALL ON TABLE "public"."holds" FROM "anon";

ALTER TABLE "public"."accounts"
  ADD COLUMN "held_minor" bigint NOT NULL DEFAULT 0;

CREATE OR REPLACE FUNCTION loans_private.post_transfer (
  p_kind            text,
  p_from_account_id uuid,
  p_to_account_id   uuid,
  p_amount          bigint,
  p_currency        text,
  p_description     text,
  p_transfer_id     uuid   DEFAULT NULL::uuid
)
  RETURNS uuid
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
declare
  v_row public.accounts;
  v_from public.accounts;
  v_to public.accounts;
  v_transfer public.transfers;
begin
  for v_row in
    select a.* from public.accounts as a
    where a.id in (p_from_account_id, p_to_account_id)
    order by a.id
    for no key update
  loop
    if v_row.id = p_from_account_id then
      v_from := v_row;
    else
      v_to := v_row;
    end if;
  end loop;

  if v_from.id is null then
    raise exception 'account (id=%) not found', p_from_account_id using errcode = 'BK005';
  end if;
  if v_to.id is null then
    raise exception 'account (id=%) not found', p_to_account_id using errcode = 'BK005';
  end if;
  if v_from.status <> 'active' then
    raise exception 'account (id=%) is %', v_from.id, v_from.status using errcode = 'BK004';
  end if;
  if v_to.status <> 'active' then
    raise exception 'account (id=%) is %', v_to.id, v_to.status using errcode = 'BK004';
  end if;
  if v_from.currency <> p_currency or v_to.currency <> p_currency then
    raise exception 'accounts (id=%, id=%) are in % and %, the transfer in %',
      v_from.id, v_to.id, v_from.currency, v_to.currency, p_currency
      using errcode = 'BK002';
  end if;
  if v_from.deferred_credits then
    v_from := private.settle_account(v_from);
  end if;
  if v_from.held_minor > 0 then
    v_from := private.release_expired_holds(v_from);  -- 45_holds.sql
  end if;
  if v_from.kind <> 'system'
     and v_from.balance - v_from.held_minor - p_amount < -v_from.overdraft_limit then
    raise exception 'account (id=%) has insufficient funds', v_from.id using errcode = 'BK001';
  end if;

  v_transfer := private.post_transfer(
    coalesce(p_transfer_id, gen_random_uuid()), p_kind, v_from, v_to, p_amount, p_description,
    auth.uid());
  return v_transfer.id;
end;
$function$;

CREATE OR REPLACE FUNCTION private.capture_hold (
  p_hold_id uuid,
  p_amount  numeric
)
  RETURNS jsonb
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path TO ''
  AS $function$
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
  if v_amount > v_hold.amount then
    perform private.raise_invalid('p_amount', format('amount (%s) is more than the hold (id=%s) reserves (%s)',
      private.format_amount(v_amount, v_hold.currency), v_hold.id,
      private.format_amount(v_hold.amount, v_hold.currency)));
  end if;
  if v_from.status <> 'active' then
    raise exception using errcode = 'BK004',
      message = format('account (id=%s) is %s', v_from.id, v_from.status), detail = v_from.status;
  end if;
  if v_to.status <> 'active' then
    raise exception using errcode = 'BK004',
      message = format('account (id=%s) is %s', v_to.id, v_to.status), detail = v_to.status;
  end if;
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
$function$;

ALTER FUNCTION "private"."capture_hold"(uuid, numeric) OWNER TO "ledger_owner";

CREATE OR REPLACE FUNCTION private.cash_refusal (
  p_kind         text,
  p_account_id   uuid,
  p_account      public.accounts,
  p_cash         public.accounts,
  p_amount       numeric,
  p_amount_minor bigint,
  p_currency     text
)
  RETURNS text[]
  LANGUAGE plpgsql
  STABLE
  SET search_path TO ''
  AS $function$
begin
  return case
    when p_account.id is null or p_account.kind = 'system' then
      array['BK005', format('account (id=%s) not found', p_account_id)]
    when p_account.currency <> p_currency then
      array['BK002', format('account (id=%s) holds %s, not %s', p_account.id, p_account.currency, p_currency)]
    when p_account.status <> 'active' then
      array['BK004', format('account (id=%s) is %s', p_account.id, p_account.status), p_account.status]
    when p_account.balance::numeric + case p_kind when 'deposit' then p_amount_minor else -p_amount_minor end
           not between -9223372036854775808 and 9223372036854775807
      or p_cash.balance::numeric + case p_kind when 'deposit' then -p_amount_minor else p_amount_minor end
           not between -9223372036854775808 and 9223372036854775807 then
      array['BK007', format('amount (%s %s) would take a balance beyond what the ledger can hold',
             p_amount, p_currency), 'balance_range']
    when p_kind = 'withdrawal'
         and p_account.balance::numeric - p_account.held_minor - p_amount_minor < -p_account.overdraft_limit then
      array['BK001', format('account (id=%s) has insufficient funds: %s available, %s requested',
             p_account.id,
             private.format_amount(p_account.balance - p_account.held_minor + p_account.overdraft_limit,
                                   p_currency),
             private.format_amount(p_amount_minor, p_currency))]
  end;
end;
$function$;

CREATE OR REPLACE FUNCTION private.check_account_can_close (
  p_account public.accounts
)
  RETURNS void
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION private.expire_holds()
  RETURNS bigint
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path TO ''
  AS $function$
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
$function$;

ALTER FUNCTION "private"."expire_holds"() OWNER TO "ledger_owner";

CREATE OR REPLACE FUNCTION private.guard_account_delete()
  RETURNS TRIGGER
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION private.guard_account_insert()
  RETURNS TRIGGER
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
begin
  if new.balance <> 0 or new.version <> 0 or new.held_minor <> 0 then
    raise exception using
      errcode = 'BK011',
      message = 'a new account starts with balance 0, version 0 and nothing held; money arrives '
                'through a transfer';
  end if;
  return new;
end;
$function$;

CREATE OR REPLACE FUNCTION private.guard_account_update()
  RETURNS TRIGGER
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION private.hold_json (
  p_hold public.holds
)
  RETURNS jsonb
  LANGUAGE sql
  STABLE
  SET search_path TO ''
  AS $function$
  select to_jsonb(p_hold) - 'initiated_by' || jsonb_build_object('status', public.hold_status(p_hold))
$function$;

CREATE OR REPLACE FUNCTION private.hold_lifetime (
  p_expires_in_seconds integer
)
  RETURNS interval
  LANGUAGE plpgsql
  IMMUTABLE
  SET search_path TO ''
  AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION private.lock_open_hold (
  p_hold_id uuid
)
  RETURNS public.holds
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION private.move_cash (
  p_kind            text,
  p_account_id      uuid,
  p_amount          numeric,
  p_currency        text,
  p_reference       text,
  p_idempotency_key text
)
  RETURNS jsonb
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
declare
  v_action text := case p_kind when 'deposit' then 'admin_deposit' else 'admin_withdraw' end;
  v_caller uuid := coalesce(auth.uid(), '00000000-0000-0000-0000-000000000000'::uuid);
  v_amount bigint;
  v_hash bytea;
  v_transfer_id uuid := gen_random_uuid();
  v_cash_id uuid;
  v_row public.accounts;
  v_cash public.accounts;
  v_account public.accounts;
  v_refusal text[];
begin
  perform private.require_staff(v_action);
  v_amount := private.check_cash_request(
    p_account_id, p_amount, p_currency, p_reference, p_idempotency_key);

  v_hash := sha256(convert_to(jsonb_build_array(
    v_action, p_account_id, v_amount, p_currency, p_reference
  )::text, 'UTF8'));
  if not private.claim_idempotency_key(v_caller, p_idempotency_key, v_hash, v_transfer_id) then
    return private.replay_idempotency_key(v_caller, p_idempotency_key, v_hash);
  end if;

  v_cash_id := private.system_account(p_currency, 'cash');
  for v_row in
    select * from public.accounts
     where id in (v_cash_id, p_account_id)
     order by id
       for no key update
  loop
    if v_row.deferred_credits then
      v_row := private.settle_account(v_row);
    end if;
    if v_row.held_minor > 0 then
      v_row := private.release_expired_holds(v_row);  -- 45_holds.sql
    end if;
    if v_row.id = v_cash_id then v_cash := v_row; end if;
    if v_row.id = p_account_id then v_account := v_row; end if;
  end loop;

  v_refusal := private.cash_refusal(
    p_kind, p_account_id, v_account, v_cash, p_amount, v_amount, p_currency);
  if v_refusal is not null then
    return private.refuse(v_caller, p_idempotency_key, v_refusal[1], v_refusal[2], v_refusal[3]);
  end if;

  if p_kind = 'deposit' then
    return to_jsonb(private.post_transfer(
      v_transfer_id, 'deposit', v_cash, v_account, v_amount, p_reference, auth.uid()
    )) || '{"replayed": false}'::jsonb;
  end if;
  return to_jsonb(private.post_transfer(
    v_transfer_id, 'withdrawal', v_account, v_cash, v_amount, p_reference, auth.uid()
  )) || '{"replayed": false}'::jsonb;
end;
$function$;

CREATE OR REPLACE FUNCTION private.place_hold (
  p_from_account_id    uuid,
  p_to_account_id      uuid,
  p_amount             numeric,
  p_currency           text,
  p_idempotency_key    text,
  p_description        text,
  p_expires_in_seconds integer
)
  RETURNS jsonb
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path TO ''
  AS $function$
declare
  v_caller uuid := private.require_user('place_hold');
  v_currency public.currencies;
  v_amount bigint;
  v_counted bigint;
  v_lifetime interval;
  v_hash bytea;
  v_hold_id uuid := gen_random_uuid();
  v_record public.idempotency_records;
  v_limits public.transfer_limits;
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
    select r.* into v_record from public.idempotency_records as r
     where r.caller_id = v_caller and r.key = p_idempotency_key;
    if v_record.request_hash <> v_hash or v_record.transfer_id is null then
      -- A different request (BK006, raised) or a stored refusal.
      return private.replay_idempotency_key(v_caller, p_idempotency_key, v_hash);
    end if;
    select h.* into v_hold from public.holds as h where h.id = v_record.transfer_id;
    return private.hold_json(v_hold) || '{"replayed": true}'::jsonb;
  end if;

  v_counted := case when v_amount > v_currency.max_transfer_minor then 0 else v_amount end;
  v_limits := private.count_money_movement(v_caller, p_currency, v_counted);

  -- Only the sender is locked: the hold writes no other row. The receiver is
  -- read for the refusal and locked by the capture.
  select * into v_from from public.accounts
   where id = p_from_account_id and owner_id = v_caller
     for no key update;
  select * into v_to from public.accounts where id = p_to_account_id;
  if v_from.deferred_credits then
    v_from := private.settle_account(v_from);
  end if;
  if v_from.held_minor > 0 then
    v_from := private.release_expired_holds(v_from);
  end if;

  v_refusal := private.transfer_refusal(
    p_from_account_id, p_to_account_id, v_from, v_to, p_amount, v_amount, v_currency, v_limits);
  if v_refusal is not null then
    update public.transfer_limits
       set outgoing_minor = greatest(outgoing_minor - v_counted, 0)
     where user_id = v_caller and currency = p_currency;
    return private.refuse(v_caller, p_idempotency_key, v_refusal[1], v_refusal[2], v_refusal[3]);
  end if;

  with reserved as (
    update public.accounts set held_minor = held_minor + v_amount, updated_at = now()
     where id = v_from.id
  )
  insert into public.holds
    (id, from_account_id, to_account_id, amount, currency, description, initiated_by, expires_at)
  values
    (v_hold_id, v_from.id, v_to.id, v_amount, p_currency, p_description, v_caller,
     now() + v_lifetime)
  returning * into v_hold;
  return private.hold_json(v_hold) || '{"replayed": false}'::jsonb;
end;
$function$;

ALTER FUNCTION "private"."place_hold"(uuid, uuid, numeric, text, text, text, integer) OWNER TO "ledger_owner";

CREATE OR REPLACE FUNCTION private.release_expired_holds (
  p_account public.accounts
)
  RETURNS public.accounts
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION private.transfer_funds (
  p_from_account_id uuid,
  p_to_account_id   uuid,
  p_amount          numeric,
  p_currency        text,
  p_idempotency_key text,
  p_description     text
)
  RETURNS jsonb
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path TO ''
  AS $function$
declare
  v_caller uuid := private.require_user('transfer_funds');
  v_currency public.currencies;
  v_amount bigint;
  v_counted bigint;
  v_minor numeric;
  v_hash bytea;
  v_transfer_id uuid := gen_random_uuid();
  v_limits public.transfer_limits;
  v_row public.accounts;
  v_from public.accounts;
  v_to public.accounts;
  v_to_locked boolean := false;
  v_refusal text[];
begin
  select * into v_currency from public.currencies where code = p_currency;
  if v_currency.code is null then
    perform private.raise_invalid('p_currency', format('currency (%s) is not supported', p_currency));
  end if;
  v_minor := p_amount * (10::numeric ^ v_currency.exponent);
  if p_amount > 0 and v_minor = trunc(v_minor) and v_minor <= 9223372036854775807 then
    v_amount := v_minor::bigint;
  else
    v_amount := private.minor_units(p_amount, v_currency.exponent, 'p_amount', v_currency.code);  -- raises its BK009
  end if;
  perform private.check_transfer_request(
    p_from_account_id, p_to_account_id, p_idempotency_key, p_description);

  v_hash := sha256(convert_to(jsonb_build_array(
    'transfer_funds', p_from_account_id, p_to_account_id, v_amount, p_currency, p_description
  )::text, 'UTF8'));

  if not private.claim_idempotency_key(v_caller, p_idempotency_key, v_hash, v_transfer_id) then
    return private.replay_idempotency_key(v_caller, p_idempotency_key, v_hash);
  end if;

  -- An amount over the per-transfer limit is refused by that limit, so it is
  -- not counted towards the day's total; the sum saturates instead of
  -- overflowing a bigint, so an absurd amount is a limit refusal, not a 500.
  v_counted := case when v_amount > v_currency.max_transfer_minor then 0 else v_amount end;
  v_limits := private.count_money_movement(v_caller, p_currency, v_counted);

  -- Lock the sender (only if the caller owns it) and the receiver unless it
  -- takes deferred credits, in id order.
  for v_row in
    select * from public.accounts
     where id in (p_from_account_id, p_to_account_id)
       and (id <> p_from_account_id or owner_id = v_caller)
       and (id = p_from_account_id or not deferred_credits)
     order by id
       for no key update
  loop
    if v_row.id = p_from_account_id then v_from := v_row; end if;
    if v_row.id = p_to_account_id then v_to := v_row; v_to_locked := true; end if;
  end loop;
  if not v_to_locked then
    -- A deferred receiver (or none): read without a lock (see the header) and
    -- credited through pending_credits even if its flag was turned off since.
    select * into v_to from public.accounts where id = p_to_account_id;
  end if;
  if v_from.deferred_credits then
    v_from := private.settle_account(v_from);
  end if;
  if v_from.held_minor > 0 then
    v_from := private.release_expired_holds(v_from);  -- 45_holds.sql
  end if;

  v_refusal := private.transfer_refusal(
    p_from_account_id, p_to_account_id, v_from, v_to, p_amount, v_amount, v_currency, v_limits);
  if v_refusal is not null then
    update public.transfer_limits
       set outgoing_minor = greatest(outgoing_minor - v_counted, 0)
     where user_id = v_caller and currency = p_currency;
    return private.refuse(v_caller, p_idempotency_key, v_refusal[1], v_refusal[2], v_refusal[3]);
  end if;

  if v_to_locked then
    return to_jsonb(private.post_transfer(
      v_transfer_id, 'transfer', v_from, v_to, v_amount, p_description, v_caller
    )) || '{"replayed": false}'::jsonb;
  end if;
  return to_jsonb(private.post_transfer_deferred(
    v_transfer_id, 'transfer', v_from, v_to, v_amount, p_description, v_caller
  )) || '{"replayed": false}'::jsonb;
end;
$function$;

CREATE OR REPLACE FUNCTION private.transfer_refusal (
  p_from_id      uuid,
  p_to_id        uuid,
  p_from         public.accounts,
  p_to           public.accounts,
  p_amount       numeric,
  p_amount_minor bigint,
  p_currency     public.currencies,
  p_limits       public.transfer_limits
)
  RETURNS text[]
  LANGUAGE plpgsql
  STABLE
  SET search_path TO ''
  AS $function$
begin
  return case
    when p_from.id is null then
      array['BK005', format('account (id=%s) not found', p_from_id)]
    when p_to.id is null or p_to.kind = 'system' then
      array['BK005', format('account (id=%s) not found', p_to_id)]
    when p_from.id = p_to.id then
      array['BK003', format('account (id=%s) cannot transfer to itself', p_from.id)]
    when p_from.currency <> p_currency.code then
      array['BK002', format('account (id=%s) holds %s, not %s', p_from.id, p_from.currency, p_currency.code)]
    when p_to.currency <> p_currency.code then
      array['BK002', format('account (id=%s) holds %s, not %s', p_to.id, p_to.currency, p_currency.code)]
    when p_from.status <> 'active' then
      array['BK004', format('account (id=%s) is %s', p_from.id, p_from.status), p_from.status]
    when p_to.status <> 'active' then
      array['BK004', format('account (id=%s) is %s', p_to.id, p_to.status), p_to.status]
    when p_amount_minor > p_currency.max_transfer_minor then
      array['BK007', format('amount (%s %s) is over the limit of %s per transfer',
             p_amount, p_currency.code,
             private.format_amount(p_currency.max_transfer_minor, p_currency.code)),
            'max_transfer_minor']
    when p_limits.outgoing_minor > p_currency.daily_outgoing_limit_minor then
      array['BK007', format('transfers today would exceed the daily limit of %s',
             private.format_amount(p_currency.daily_outgoing_limit_minor, p_currency.code)),
            'daily_outgoing_limit_minor']
    when p_from.balance - p_from.held_minor - p_amount_minor < -p_from.overdraft_limit then
      array['BK001', format('account (id=%s) has insufficient funds: %s available, %s requested',
             p_from.id,
             private.format_amount(p_from.balance - p_from.held_minor + p_from.overdraft_limit,
                                   p_currency.code),
             private.format_amount(p_amount_minor, p_currency.code))]
  end;
end;
$function$;

CREATE OR REPLACE FUNCTION private.visible_hold (
  p_hold_id uuid
)
  RETURNS public.holds
  LANGUAGE plpgsql
  STABLE
  SET search_path TO ''
  AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION private.void_hold (
  p_hold_id uuid
)
  RETURNS jsonb
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path TO ''
  AS $function$
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
$function$;

ALTER FUNCTION "private"."void_hold"(uuid) OWNER TO "ledger_owner";

CREATE OR REPLACE FUNCTION public.capture_hold (
  p_hold_id uuid,
  p_amount  numeric DEFAULT NULL::numeric
)
  RETURNS jsonb
  LANGUAGE sql
  SET search_path TO ''
  AS $function$
  select private.capture_hold(p_hold_id, p_amount)
$function$;

REVOKE ALL ON FUNCTION "public"."capture_hold"(uuid, numeric) FROM PUBLIC, "anon";

CREATE OR REPLACE FUNCTION public.expire_holds()
  RETURNS bigint
  LANGUAGE sql
  SET search_path TO ''
  AS $function$
  select private.expire_holds()
$function$;

REVOKE ALL ON FUNCTION "public"."expire_holds"() FROM PUBLIC, "anon";

CREATE OR REPLACE FUNCTION public.held_minor_now (
  p_account public.accounts
)
  RETURNS bigint
  LANGUAGE sql
  STABLE
  SET search_path TO ''
  AS $function$
  select case when p_account.held_minor = 0 then 0::bigint
    else (select coalesce(sum(h.amount), 0)::bigint from public.holds as h
           where h.from_account_id = p_account.id and h.status = 'pending'
             and h.expires_at > now())
  end
$function$;

REVOKE ALL ON FUNCTION "public"."held_minor_now"(public.accounts) FROM PUBLIC, "anon";

CREATE OR REPLACE FUNCTION public.hold_status (
  p_hold public.holds
)
  RETURNS text
  LANGUAGE sql
  STABLE
  SET search_path TO ''
  AS $function$
  select case when p_hold.status = 'pending' and p_hold.expires_at <= now() then 'expired'
              else p_hold.status end
$function$;

REVOKE ALL ON FUNCTION "public"."hold_status"(public.holds) FROM PUBLIC, "anon";

CREATE OR REPLACE FUNCTION public.place_hold (
  p_from_account_id    uuid,
  p_to_account_id      uuid,
  p_amount             numeric,
  p_currency           text,
  p_idempotency_key    text,
  p_description        text    DEFAULT NULL::text,
  p_expires_in_seconds integer DEFAULT NULL::integer
)
  RETURNS jsonb
  LANGUAGE sql
  SET search_path TO ''
  AS $function$
  select private.place_hold(p_from_account_id, p_to_account_id, p_amount, p_currency,
                            p_idempotency_key, p_description, p_expires_in_seconds)
$function$;

REVOKE ALL ON FUNCTION "public"."place_hold"(uuid, uuid, numeric, text, text, text, integer) FROM PUBLIC, "anon", "service_role";

CREATE OR REPLACE FUNCTION public.void_hold (
  p_hold_id uuid
)
  RETURNS jsonb
  LANGUAGE sql
  SET search_path TO ''
  AS $function$
  select private.void_hold(p_hold_id)
$function$;

REVOKE ALL ON FUNCTION "public"."void_hold"(uuid) FROM PUBLIC, "anon";

ALTER TABLE "public"."accounts"
  ADD CONSTRAINT "accounts_held_minor_not_negative" CHECK ((held_minor >= 0));

ALTER TABLE "public"."accounts"
  ADD CONSTRAINT "accounts_holds_within_overdraft" CHECK (((kind = 'system'::text) OR ((balance - held_minor) >= (- overdraft_limit))));

ALTER TABLE "public"."holds"
  ADD CONSTRAINT "holds_capture_transfer_id_fkey" FOREIGN KEY (capture_transfer_id) REFERENCES public.transfers(id);

ALTER TABLE "public"."holds"
  ADD CONSTRAINT "holds_from_account_id_fkey" FOREIGN KEY (from_account_id) REFERENCES public.accounts(id);

ALTER TABLE "public"."holds"
  ADD CONSTRAINT "holds_to_account_id_fkey" FOREIGN KEY (to_account_id) REFERENCES public.accounts(id);

CREATE INDEX entries_account_id_created_at_idx ON public.entries USING btree (account_id, created_at, account_version);

CREATE INDEX holds_from_account_id_idx ON public.holds USING btree (from_account_id, status);

CREATE INDEX holds_pending_expires_at_idx ON public.holds USING btree (expires_at)
  WHERE (status = 'pending'::text);

CREATE INDEX holds_to_account_id_idx ON public.holds USING btree (to_account_id);

CREATE TRIGGER holds_audit_changes
  AFTER DELETE OR UPDATE ON public.holds
  FOR EACH ROW
  EXECUTE FUNCTION private.write_audit_log();

CREATE TRIGGER holds_cannot_be_truncated
  BEFORE TRUNCATE ON public.holds
  FOR EACH STATEMENT
  EXECUTE FUNCTION private.refuse_change('holds reserve money on accounts');

CREATE TRIGGER holds_come_from_the_ledger
  BEFORE INSERT OR DELETE OR UPDATE ON public.holds
  FOR EACH ROW
  WHEN ((CURRENT_USER <> 'ledger_owner'::name))
  EXECUTE FUNCTION private.refuse_change('holds are placed, captured and voided only by public.place_hold, public.capture_hold and public.void_hold');

CREATE POLICY "Senders can read their holds and admins every hold" ON "public"."holds"
  FOR SELECT
  TO "authenticated"
  USING (((from_account_id IN ( SELECT accounts.id
   FROM public.accounts
  WHERE (accounts.owner_id = ( SELECT auth.uid() AS uid)))) OR ( SELECT private.is_admin() AS is_admin)));

COMMENT ON COLUMN "public"."accounts"."held_minor" IS 'Minor units reserved by the account''s pending holds; changed only by the hold functions.';

REVOKE ALL ON FUNCTION "private"."capture_hold"(uuid, numeric) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."capture_hold"(uuid, numeric) TO "authenticated";

REVOKE ALL ON FUNCTION "private"."capture_hold"(uuid, numeric) FROM "ledger_owner";

GRANT EXECUTE ON FUNCTION "private"."capture_hold"(uuid, numeric) TO "ledger_owner";

GRANT EXECUTE ON FUNCTION "private"."capture_hold"(uuid, numeric) TO "service_role";

REVOKE ALL ON FUNCTION "private"."expire_holds"() FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."expire_holds"() TO "authenticated";

REVOKE ALL ON FUNCTION "private"."expire_holds"() FROM "ledger_owner";

GRANT EXECUTE ON FUNCTION "private"."expire_holds"() TO "ledger_owner";

GRANT EXECUTE ON FUNCTION "private"."expire_holds"() TO "service_role";

REVOKE ALL ON FUNCTION "private"."hold_json"(public.holds) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."hold_json"(public.holds) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."hold_json"(public.holds) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."hold_json"(public.holds) TO "postgres";

REVOKE ALL ON FUNCTION "private"."hold_lifetime"(integer) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."hold_lifetime"(integer) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."hold_lifetime"(integer) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."hold_lifetime"(integer) TO "postgres";

REVOKE ALL ON FUNCTION "private"."lock_open_hold"(uuid) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."lock_open_hold"(uuid) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."lock_open_hold"(uuid) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."lock_open_hold"(uuid) TO "postgres";

REVOKE ALL ON FUNCTION "private"."place_hold"(uuid, uuid, numeric, text, text, text, integer) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."place_hold"(uuid, uuid, numeric, text, text, text, integer) TO "authenticated";

REVOKE ALL ON FUNCTION "private"."place_hold"(uuid, uuid, numeric, text, text, text, integer) FROM "ledger_owner";

GRANT EXECUTE ON FUNCTION "private"."place_hold"(uuid, uuid, numeric, text, text, text, integer) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."release_expired_holds"(public.accounts) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."release_expired_holds"(public.accounts) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."release_expired_holds"(public.accounts) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."release_expired_holds"(public.accounts) TO "postgres";

REVOKE ALL ON FUNCTION "private"."visible_hold"(uuid) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."visible_hold"(uuid) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."visible_hold"(uuid) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."visible_hold"(uuid) TO "postgres";

REVOKE ALL ON FUNCTION "private"."void_hold"(uuid) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."void_hold"(uuid) TO "authenticated";

REVOKE ALL ON FUNCTION "private"."void_hold"(uuid) FROM "ledger_owner";

GRANT EXECUTE ON FUNCTION "private"."void_hold"(uuid) TO "ledger_owner";

GRANT EXECUTE ON FUNCTION "private"."void_hold"(uuid) TO "service_role";

GRANT EXECUTE ON FUNCTION "public"."capture_hold"(uuid, numeric) TO "authenticated";

REVOKE ALL ON FUNCTION "public"."capture_hold"(uuid, numeric) FROM "postgres";

GRANT EXECUTE ON FUNCTION "public"."capture_hold"(uuid, numeric) TO "postgres";

GRANT EXECUTE ON FUNCTION "public"."capture_hold"(uuid, numeric) TO "service_role";

GRANT EXECUTE ON FUNCTION "public"."expire_holds"() TO "authenticated";

REVOKE ALL ON FUNCTION "public"."expire_holds"() FROM "postgres";

GRANT EXECUTE ON FUNCTION "public"."expire_holds"() TO "postgres";

GRANT EXECUTE ON FUNCTION "public"."expire_holds"() TO "service_role";

GRANT EXECUTE ON FUNCTION "public"."held_minor_now"(public.accounts) TO "authenticated", "ledger_owner";

REVOKE ALL ON FUNCTION "public"."held_minor_now"(public.accounts) FROM "postgres";

GRANT EXECUTE ON FUNCTION "public"."held_minor_now"(public.accounts) TO "postgres";

GRANT EXECUTE ON FUNCTION "public"."held_minor_now"(public.accounts) TO "service_role";

GRANT EXECUTE ON FUNCTION "public"."hold_status"(public.holds) TO "authenticated", "ledger_owner";

REVOKE ALL ON FUNCTION "public"."hold_status"(public.holds) FROM "postgres";

GRANT EXECUTE ON FUNCTION "public"."hold_status"(public.holds) TO "postgres";

GRANT EXECUTE ON FUNCTION "public"."hold_status"(public.holds) TO "service_role";

GRANT EXECUTE ON FUNCTION "public"."place_hold"(uuid, uuid, numeric, text, text, text, integer) TO "authenticated";

REVOKE ALL ON FUNCTION "public"."place_hold"(uuid, uuid, numeric, text, text, text, integer) FROM "postgres";

GRANT EXECUTE ON FUNCTION "public"."place_hold"(uuid, uuid, numeric, text, text, text, integer) TO "postgres";

GRANT EXECUTE ON FUNCTION "public"."void_hold"(uuid) TO "authenticated";

REVOKE ALL ON FUNCTION "public"."void_hold"(uuid) FROM "postgres";

GRANT EXECUTE ON FUNCTION "public"."void_hold"(uuid) TO "postgres";

GRANT EXECUTE ON FUNCTION "public"."void_hold"(uuid) TO "service_role";

REVOKE ALL ON TABLE "public"."holds" FROM "authenticated";

GRANT SELECT ON TABLE "public"."holds" TO "authenticated";

GRANT DELETE, INSERT, SELECT, UPDATE ON TABLE "public"."holds" TO "ledger_owner";

REVOKE ALL ON TABLE "public"."holds" FROM "postgres";

GRANT DELETE, INSERT, REFERENCES, SELECT, TRIGGER, TRUNCATE, UPDATE ON TABLE "public"."holds" TO "postgres";

REVOKE ALL ON TABLE "public"."holds" FROM "service_role";

GRANT SELECT ON TABLE "public"."holds" TO "service_role";
