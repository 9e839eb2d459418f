SET local check_function_bodies = off;

CREATE OR REPLACE FUNCTION private.apply_refund (
  p_event_id          text,
  p_livemode          boolean,
  p_payment_intent_id text,
  p_refunded_minor    bigint,
  p_currency          text
)
  RETURNS jsonb
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
declare
  v_deposit public.payment_events;
  v_refunded bigint;
  v_locked public.accounts[];
  v_refusal text[];
  v_transfer public.transfers;
  v_reason text;
begin
  select * into v_deposit from public.payment_events
   where payment_intent_id = p_payment_intent_id
     and event_type = 'payment_intent.succeeded' and status = 'applied';
  if v_deposit.id is null then
    return private.record_payment_event(
      p_event_id, 'charge.refunded', p_livemode, 'unapplied',
      format('refund of payment (%s), which was never deposited', p_payment_intent_id),
      p_payment_intent_id, null, p_refunded_minor, p_currency, null);
  end if;
  select coalesce(sum(t.amount), 0) into v_refunded
    from public.payment_events as e
    join public.transfers as t on t.id = e.transfer_id
   where e.payment_intent_id = p_payment_intent_id
     and e.event_type = 'charge.refunded' and e.status = 'applied';
  v_reason := private.refund_mismatch(
    v_deposit, p_payment_intent_id, p_refunded_minor, p_currency);
  if v_reason is not null then
    return private.record_payment_event(
      p_event_id, 'charge.refunded', p_livemode, 'unapplied', v_reason,
      p_payment_intent_id, v_deposit.account_id, p_refunded_minor, p_currency, null);
  end if;
  if p_refunded_minor <= v_refunded then
    return private.record_payment_event(
      p_event_id, 'charge.refunded', p_livemode, 'ignored',
      format('payment (%s) has had %s refunded already', p_payment_intent_id,
             private.format_amount(v_refunded, p_currency)),
      p_payment_intent_id, v_deposit.account_id, p_refunded_minor, p_currency, null);
  end if;
  v_locked := private.lock_payment_accounts(
    v_deposit.account_id, private.payment_provider_account(p_currency));
  v_refusal := private.cash_refusal(
    'withdrawal', v_deposit.account_id, v_locked[1], v_locked[2],
    private.major_units(p_refunded_minor - v_refunded, p_currency), p_refunded_minor - v_refunded,
    p_currency);
  if v_refusal is not null then
    return private.record_payment_event(
      p_event_id, 'charge.refunded', p_livemode, 'unapplied', v_refusal[2],
      p_payment_intent_id, v_deposit.account_id, p_refunded_minor, p_currency, null);
  end if;
  v_transfer := private.post_transfer(
    gen_random_uuid(), 'withdrawal', v_locked[1], v_locked[2], p_refunded_minor - v_refunded,
    format('card refund %s', p_payment_intent_id), null);
  return private.record_payment_event(
    p_event_id, 'charge.refunded', p_livemode, 'applied', null,
    p_payment_intent_id, v_deposit.account_id, p_refunded_minor, p_currency, v_transfer.id);
end;
$function$;

CREATE OR REPLACE FUNCTION private.batch_currencies (
  p_currencies public.currencies[],
  p_minors     bigint[],
  OUT          codes text[],
  OUT          currency_rows public.currencies[],
  OUT          counted numeric[]
)
  RETURNS record
  LANGUAGE plpgsql
  IMMUTABLE
  SET search_path TO ''
  AS $function$
declare
  v_c integer;
begin
  select '{}', '{}', '{}' into codes, currency_rows, counted;
  for i in 1 .. cardinality(p_minors) loop
    v_c := array_position(codes, (p_currencies[i]).code);
    if v_c is null then
      codes := codes || (p_currencies[i]).code;
      currency_rows := currency_rows || p_currencies[i];
      counted := counted || 0::numeric;
      v_c := cardinality(codes);
    end if;
    if p_minors[i] <= (p_currencies[i]).max_transfer_minor then
      counted[v_c] := counted[v_c] + p_minors[i];
    end if;
  end loop;
end;
$function$;

CREATE OR REPLACE FUNCTION private.batch_items (
  p_transfers jsonb,
  OUT         from_ids uuid[],
  OUT         to_ids uuid[],
  OUT         amounts numeric[],
  OUT         minors bigint[],
  OUT         codes text[],
  OUT         descriptions text[],
  OUT         currencies public.currencies[],
  OUT         transfer_ids uuid[]
)
  RETURNS record
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
declare
  v_item jsonb;
  v_text text;
  v_currency public.currencies;
begin
  if p_transfers is null or jsonb_typeof(p_transfers) <> 'array'
     or jsonb_array_length(p_transfers) not between 1 and 100 then
    perform private.raise_invalid('p_transfers', 'transfers must be a list of 1 to 100 transfers');
  end if;
  select '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}'
    into from_ids, to_ids, amounts, minors, codes, descriptions, currencies, transfer_ids;
  for i in 0 .. jsonb_array_length(p_transfers) - 1 loop
    v_item := p_transfers -> i;
    if jsonb_typeof(v_item) <> 'object' then
      perform private.raise_invalid_item(i, 'body', 'each transfer must be an object');
    end if;
    foreach v_text in array array['from_account_id', 'to_account_id'] loop
      if jsonb_typeof(v_item -> v_text) is distinct from 'string'
         or (v_item ->> v_text) !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
        perform private.raise_invalid_item(i, v_text, format('%s must be an account id', v_text));
      end if;
    end loop;
    select * into v_currency from public.currencies where code = v_item ->> 'currency';
    if v_currency.code is null then
      perform private.raise_invalid_item(i, 'currency',
        format('currency (%s) is not supported', coalesce(v_item ->> 'currency', 'null')));
    end if;
    v_text := v_item ->> 'amount';
    if coalesce(jsonb_typeof(v_item -> 'amount'), 'missing') not in ('string', 'number')
       or v_text !~ '^[0-9]{1,30}(\.[0-9]{1,30})?$' then
      perform private.raise_invalid_item(i, 'amount', 'amount must be a decimal such as "12.34"');
    end if;
    if jsonb_typeof(v_item -> 'description') not in ('string', 'null')
       or char_length(v_item ->> 'description') > 280 then
      perform private.raise_invalid_item(i, 'description',
        'description must be text of at most 280 characters');
    end if;
    from_ids := from_ids || (v_item ->> 'from_account_id')::uuid;
    to_ids := to_ids || (v_item ->> 'to_account_id')::uuid;
    amounts := amounts || v_text::numeric;
    minors := minors || private.minor_units(
      v_text::numeric, v_currency.exponent, format('p_transfers.%s.amount', i), v_currency.code);
    codes := codes || v_currency.code;
    descriptions := descriptions || (v_item ->> 'description');
    currencies := currencies || v_currency;
    transfer_ids := transfer_ids || gen_random_uuid();
  end loop;
end;
$function$;

CREATE OR REPLACE FUNCTION private.batch_replay (
  p_caller          uuid,
  p_idempotency_key text,
  p_hash            bytea
)
  RETURNS jsonb
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
declare
  v_replay jsonb := private.replay_idempotency_key(p_caller, p_idempotency_key, p_hash);
begin
  if v_replay ? 'id' then
    return private.batch_reply(
      (select i.batch_id from public.transfer_batch_items as i
        where i.transfer_id = (v_replay ->> 'id')::uuid), true);
  end if;
  return v_replay;
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
$function$;

CREATE OR REPLACE FUNCTION private.check_capture (
  p_hold   public.holds,
  p_amount bigint,
  p_from   public.accounts,
  p_to     public.accounts
)
  RETURNS void
  LANGUAGE plpgsql
  STABLE
  SET search_path TO ''
  AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION private.hold_replay (
  p_caller          uuid,
  p_idempotency_key text,
  p_hash            bytea
)
  RETURNS jsonb
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION private.lock_batch_accounts (
  p_caller   uuid,
  p_from_ids uuid[],
  p_to_ids   uuid[]
)
  RETURNS uuid[]
  LANGUAGE sql
  SET search_path TO ''
  AS $function$
  select coalesce(array_agg(a.id order by a.id), '{}')
    from (select a.id from public.accounts as a
           where a.id = any (p_from_ids || p_to_ids)
             and ((a.id = any (p_from_ids) and a.owner_id = p_caller)
                  or (a.id = any (p_to_ids) and not a.deferred_credits))
           order by a.id
             for no key update) as a
$function$;

CREATE OR REPLACE FUNCTION private.lock_hold_accounts (
  p_from_account_id uuid,
  p_to_account_id   uuid,
  p_caller          uuid
)
  RETURNS public.accounts[]
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION private.lock_reversal_accounts (
  p_original public.transfers
)
  RETURNS public.accounts[]
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
declare
  v_row public.accounts;
  v_from public.accounts;
  v_to public.accounts;
begin
  for v_row in
    select * from public.accounts
     where id in (p_original.from_account_id, p_original.to_account_id)
     order by id
       for no key update
  loop
    if v_row.id = p_original.to_account_id then
      if v_row.deferred_credits then
        v_row := private.settle_account(v_row);
      end if;
      if v_row.held_minor > 0 then
        v_row := private.release_expired_holds(v_row);
      end if;
      v_from := v_row;
    else
      v_to := v_row;
    end if;
  end loop;
  return array[v_from, v_to];
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
$function$;

CREATE OR REPLACE FUNCTION private.post_batch_items (
  p_caller         uuid,
  p_from_ids       uuid[],
  p_to_ids         uuid[],
  p_amounts        numeric[],
  p_minors         bigint[],
  p_codes          text[],
  p_descriptions   text[],
  p_transfer_ids   uuid[],
  p_currency_codes text[],
  p_currency_rows  public.currencies[],
  p_limit_rows     public.transfer_limits[],
  p_locked         uuid[]
)
  RETURNS jsonb
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
declare
  v_from public.accounts;
  v_to public.accounts;
  v_c integer;
  v_refusal text[];
  v_index integer;
  v_code text;
  v_detail text;
begin
  for i in 1 .. cardinality(p_from_ids) loop
    select * into v_from from public.accounts
     where id = p_from_ids[i] and id = any (p_locked) and owner_id = p_caller;
    if v_from.deferred_credits then
      v_from := private.settle_account(v_from);
    end if;
    if v_from.held_minor > 0 then  -- what expired holds reserved is spendable again
      v_from := private.release_expired_holds(v_from);
    end if;
    select * into v_to from public.accounts where id = p_to_ids[i];
    v_c := array_position(p_currency_codes, p_codes[i]);
    v_refusal := private.transfer_refusal(
      p_from_ids[i], p_to_ids[i], v_from, v_to, p_amounts[i], p_minors[i],
      p_currency_rows[v_c], p_limit_rows[v_c]);
    if v_refusal is not null then
      v_index := i - 1;
      raise exception using errcode = v_refusal[1], message = v_refusal[2],
        detail = coalesce(v_refusal[3], '');
    end if;
    if v_to.id = any (p_locked) then
      perform private.post_transfer(p_transfer_ids[i], 'transfer', v_from, v_to, p_minors[i],
                                    p_descriptions[i], p_caller);
    else
      perform private.post_transfer_deferred(p_transfer_ids[i], 'transfer', v_from, v_to,
                                             p_minors[i], p_descriptions[i], p_caller);
    end if;
  end loop;
  return null;
exception when sqlstate 'BK001' or sqlstate 'BK002' or sqlstate 'BK003' or sqlstate 'BK004'
                or sqlstate 'BK005' or sqlstate 'BK007' then
  if v_index is null then
    raise;  -- not one of the refusals above: never swallowed
  end if;
  get stacked diagnostics v_code = returned_sqlstate, v_detail = pg_exception_detail;
  return jsonb_build_object(
    'code', v_code, 'message', format('transfers[%s]: %s', v_index, sqlerrm),
    'details', jsonb_build_object('index', v_index, 'details', nullif(v_detail, '')));
end;
$function$;

CREATE OR REPLACE FUNCTION private.post_reversal (
  p_staff       boolean,
  p_transfer_id uuid,
  p_original_id uuid,
  p_from        public.accounts,
  p_to          public.accounts,
  p_amount      bigint,
  p_reason      text
)
  RETURNS jsonb
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
declare
  v_kind text := case when p_staff then 'reversal' else 'refund' end;
  v_transfer public.transfers;
begin
  v_transfer := private.post_transfer(
    p_transfer_id, 'reversal', p_from, p_to, p_amount,
    coalesce(p_reason, format('%s of transfer %s', v_kind, p_original_id)), auth.uid());
  insert into public.transfer_reversals
    (reversal_transfer_id, original_transfer_id, amount, reason, kind)
  values
    (p_transfer_id, p_original_id, p_amount, p_reason, v_kind);
  return to_jsonb(v_transfer)
    || jsonb_build_object('original_transfer_id', p_original_id, 'replayed', false);
end;
$function$;

CREATE OR REPLACE FUNCTION private.refund_mismatch (
  p_deposit           public.payment_events,
  p_payment_intent_id text,
  p_refunded_minor    bigint,
  p_currency          text
)
  RETURNS text
  LANGUAGE plpgsql
  STABLE
  SET search_path TO ''
  AS $function$
declare
  v_deposited bigint;
begin
  select t.amount into v_deposited from public.transfers as t where t.id = p_deposit.transfer_id;
  return case
    when p_currency <> p_deposit.currency then
      format('refund in %s of payment (%s) deposited in %s', p_currency, p_payment_intent_id,
             p_deposit.currency)
    when p_refunded_minor > v_deposited then
      format('refunds (%s) of payment (%s) exceed its deposit (%s)',
             private.format_amount(p_refunded_minor, p_currency), p_payment_intent_id,
             private.format_amount(v_deposited, p_currency))
  end;
end;
$function$;

CREATE OR REPLACE FUNCTION private.reserve_hold (
  p_hold_id         uuid,
  p_from_account_id uuid,
  p_to_account_id   uuid,
  p_amount          bigint,
  p_currency        text,
  p_description     text,
  p_caller          uuid,
  p_lifetime        interval
)
  RETURNS public.holds
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION private.reversal_original (
  p_staff           boolean,
  p_caller          uuid,
  p_transfer_id     uuid,
  p_reason          text,
  p_idempotency_key text
)
  RETURNS public.transfers
  LANGUAGE plpgsql
  STABLE
  SET search_path TO ''
  AS $function$
declare
  v_original public.transfers;
begin
  perform private.require_idempotency_key(p_idempotency_key);
  if p_transfer_id is null then
    perform private.raise_invalid('p_transfer_id', 'transfer is required');
  end if;
  if char_length(p_reason) not between 1 and 280 then
    perform private.raise_invalid('p_reason', 'reason must be 1 to 280 characters');
  end if;
  select t.* into v_original from public.transfers as t
   where t.id = p_transfer_id
     and (p_staff or t.to_account_id in (select a.id from public.accounts as a
                                          where a.owner_id = p_caller));
  if v_original.id is null then
    raise exception using errcode = 'BK005',
      message = format('transfer (id=%s) not found', p_transfer_id);
  end if;
  return v_original;
end;
$function$;

CREATE OR REPLACE FUNCTION private.reverse_transfer (
  p_action          text,
  p_transfer_id     uuid,
  p_amount          numeric,
  p_reason          text,
  p_idempotency_key text
)
  RETURNS jsonb
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
declare
  v_staff boolean := p_action = 'admin_reverse_transfer';
  v_caller uuid;
  v_original public.transfers;
  v_exponent smallint;
  v_amount bigint;
  v_reversed bigint;
  v_hash bytea;
  v_transfer_id uuid := gen_random_uuid();
  v_accounts public.accounts[];
  v_from public.accounts;
  v_to public.accounts;
  v_refusal text[];
begin
  if v_staff then
    perform private.require_staff(p_action);
    v_caller := coalesce(auth.uid(), '00000000-0000-0000-0000-000000000000'::uuid);
  else
    v_caller := private.require_user(p_action);
  end if;
  v_original := private.reversal_original(
    v_staff, v_caller, p_transfer_id, p_reason, p_idempotency_key);
  select c.exponent into v_exponent from public.currencies as c where c.code = v_original.currency;
  if p_amount is not null then
    v_amount := private.minor_units(p_amount, v_exponent, 'p_amount', v_original.currency);
  end if;

  v_hash := sha256(convert_to(jsonb_build_array(
    p_action, p_transfer_id, v_amount, p_reason)::text, 'UTF8'));
  if not private.claim_idempotency_key(v_caller, p_idempotency_key, v_hash, v_transfer_id) then
    return private.reversal_reply(
      private.replay_idempotency_key(v_caller, p_idempotency_key, v_hash));
  end if;
  if not v_staff then
    perform private.count_money_movement(v_caller, v_original.currency, 0);
  end if;

  -- Every reversal of this transfer takes the same two locks, so the sum
  -- below is never stale.
  v_accounts := private.lock_reversal_accounts(v_original);
  v_from := v_accounts[1];
  v_to := v_accounts[2];
  select coalesce(sum(r.amount), 0) into v_reversed
    from public.transfer_reversals as r where r.original_transfer_id = p_transfer_id;
  v_amount := coalesce(v_amount, greatest(v_original.amount - v_reversed, 0));

  v_refusal := private.reversal_refusal(v_staff, v_original, v_from, v_to, v_amount, v_reversed);
  if v_refusal is not null then
    return private.refuse(v_caller, p_idempotency_key, v_refusal[1], v_refusal[2], v_refusal[3]);
  end if;

  return private.post_reversal(
    v_staff, v_transfer_id, p_transfer_id, v_from, v_to, v_amount, p_reason);
end;
$function$;

CREATE OR REPLACE FUNCTION private.transfer_funds_batch (
  p_transfers       jsonb,
  p_idempotency_key text
)
  RETURNS jsonb
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path TO ''
  AS $function$
declare
  v_caller uuid := private.require_user('transfer_funds_batch');
  v_from_ids uuid[];
  v_to_ids uuid[];
  v_amounts numeric[];
  v_minors bigint[];
  v_codes text[];
  v_descriptions text[];
  v_currencies public.currencies[];
  v_transfer_ids uuid[];
  -- One entry per currency of the batch: its code, its row, the limits row
  -- after the count, and what the batch counted towards the day's total.
  v_currency_codes text[];
  v_currency_rows public.currencies[];
  v_limit_rows public.transfer_limits[] := '{}';
  v_counted numeric[];
  v_hash bytea;
  v_batch_id uuid := gen_random_uuid();
  v_locked uuid[];
  v_refusal jsonb;
begin
  perform private.require_idempotency_key(p_idempotency_key);
  select * into v_from_ids, v_to_ids, v_amounts, v_minors, v_codes, v_descriptions, v_currencies,
                v_transfer_ids
    from private.batch_items(p_transfers);
  select * into v_currency_codes, v_currency_rows, v_counted
    from private.batch_currencies(v_currencies, v_minors);

  v_hash := sha256(convert_to(jsonb_build_array(
    'transfer_funds_batch', v_from_ids, v_to_ids, v_minors, v_codes, v_descriptions
  )::text, 'UTF8'));
  if not private.claim_idempotency_key(v_caller, p_idempotency_key, v_hash, v_transfer_ids[1]) then
    return private.batch_replay(v_caller, p_idempotency_key, v_hash);
  end if;

  -- One call in each currency's rate-limit window, the batch's sum towards
  -- its day's total (saturating like transfer_funds').
  for c in 1 .. cardinality(v_currency_codes) loop
    v_limit_rows := v_limit_rows || private.count_money_movement(
      v_caller, v_currency_codes[c], least(v_counted[c], 9223372036854775807)::bigint);
  end loop;

  v_locked := private.lock_batch_accounts(v_caller, v_from_ids, v_to_ids);
  v_refusal := private.post_batch_items(
    v_caller, v_from_ids, v_to_ids, v_amounts, v_minors, v_codes, v_descriptions, v_transfer_ids,
    v_currency_codes, v_currency_rows, v_limit_rows, v_locked);
  if v_refusal is not null then
    perform private.uncount_batch(v_caller, v_currency_codes, v_counted);
    return private.refuse(v_caller, p_idempotency_key, v_refusal ->> 'code',
                          v_refusal ->> 'message', (v_refusal -> 'details')::text);
  end if;

  insert into public.transfer_batches (id, initiated_by, item_count)
  values (v_batch_id, v_caller, cardinality(v_transfer_ids));
  insert into public.transfer_batch_items (transfer_id, batch_id, index)
  select t.id, v_batch_id, t.n - 1
    from unnest(v_transfer_ids) with ordinality as t (id, n);
  return private.batch_reply(v_batch_id, false);
end;
$function$;

CREATE OR REPLACE FUNCTION private.uncount_batch (
  p_caller         uuid,
  p_currency_codes text[],
  p_counted        numeric[]
)
  RETURNS void
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
begin
  for c in 1 .. cardinality(p_currency_codes) loop
    update public.transfer_limits
       set outgoing_minor = greatest(outgoing_minor - least(p_counted[c], 9223372036854775807)::bigint, 0)
     where user_id = p_caller and currency = p_currency_codes[c];
  end loop;
end;
$function$;

REVOKE ALL ON FUNCTION "private"."batch_currencies"(public.currencies[], bigint[]) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."batch_currencies"(public.currencies[], bigint[]) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."batch_currencies"(public.currencies[], bigint[]) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."batch_currencies"(public.currencies[], bigint[]) TO "postgres";

REVOKE ALL ON FUNCTION "private"."batch_items"(jsonb) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."batch_items"(jsonb) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."batch_items"(jsonb) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."batch_items"(jsonb) TO "postgres";

REVOKE ALL ON FUNCTION "private"."batch_replay"(uuid, text, bytea) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."batch_replay"(uuid, text, bytea) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."batch_replay"(uuid, text, bytea) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."batch_replay"(uuid, text, bytea) TO "postgres";

REVOKE ALL ON FUNCTION "private"."check_capture"(public.holds, bigint, public.accounts, public.accounts) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."check_capture"(public.holds, bigint, public.accounts, public.accounts) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."check_capture"(public.holds, bigint, public.accounts, public.accounts) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."check_capture"(public.holds, bigint, public.accounts, public.accounts) TO "postgres";

REVOKE ALL ON FUNCTION "private"."hold_replay"(uuid, text, bytea) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."hold_replay"(uuid, text, bytea) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."hold_replay"(uuid, text, bytea) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."hold_replay"(uuid, text, bytea) TO "postgres";

REVOKE ALL ON FUNCTION "private"."lock_batch_accounts"(uuid, uuid[], uuid[]) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."lock_batch_accounts"(uuid, uuid[], uuid[]) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."lock_batch_accounts"(uuid, uuid[], uuid[]) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."lock_batch_accounts"(uuid, uuid[], uuid[]) TO "postgres";

REVOKE ALL ON FUNCTION "private"."lock_hold_accounts"(uuid, uuid, uuid) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."lock_hold_accounts"(uuid, uuid, uuid) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."lock_hold_accounts"(uuid, uuid, uuid) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."lock_hold_accounts"(uuid, uuid, uuid) TO "postgres";

REVOKE ALL ON FUNCTION "private"."lock_reversal_accounts"(public.transfers) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."lock_reversal_accounts"(public.transfers) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."lock_reversal_accounts"(public.transfers) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."lock_reversal_accounts"(public.transfers) TO "postgres";

REVOKE ALL
  ON FUNCTION "private"."post_batch_items"(uuid, uuid[], uuid[], numeric[], bigint[], text[], text[], uuid[], text[], public.currencies[], public.transfer_limits[], uuid[])
  FROM PUBLIC;

GRANT EXECUTE
  ON FUNCTION "private"."post_batch_items"(uuid, uuid[], uuid[], numeric[], bigint[], text[], text[], uuid[], text[], public.currencies[], public.transfer_limits[], uuid[])
  TO "ledger_owner";

REVOKE ALL
  ON FUNCTION "private"."post_batch_items"(uuid, uuid[], uuid[], numeric[], bigint[], text[], text[], uuid[], text[], public.currencies[], public.transfer_limits[], uuid[])
  FROM "postgres";

GRANT EXECUTE
  ON FUNCTION "private"."post_batch_items"(uuid, uuid[], uuid[], numeric[], bigint[], text[], text[], uuid[], text[], public.currencies[], public.transfer_limits[], uuid[])
  TO "postgres";

REVOKE ALL ON FUNCTION "private"."post_reversal"(boolean, uuid, uuid, public.accounts, public.accounts, bigint, text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."post_reversal"(boolean, uuid, uuid, public.accounts, public.accounts, bigint, text) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."post_reversal"(boolean, uuid, uuid, public.accounts, public.accounts, bigint, text) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."post_reversal"(boolean, uuid, uuid, public.accounts, public.accounts, bigint, text) TO "postgres";

REVOKE ALL ON FUNCTION "private"."refund_mismatch"(public.payment_events, text, bigint, text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."refund_mismatch"(public.payment_events, text, bigint, text) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."refund_mismatch"(public.payment_events, text, bigint, text) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."refund_mismatch"(public.payment_events, text, bigint, text) TO "postgres";

REVOKE ALL ON FUNCTION "private"."reserve_hold"(uuid, uuid, uuid, bigint, text, text, uuid, interval) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."reserve_hold"(uuid, uuid, uuid, bigint, text, text, uuid, interval) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."reserve_hold"(uuid, uuid, uuid, bigint, text, text, uuid, interval) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."reserve_hold"(uuid, uuid, uuid, bigint, text, text, uuid, interval) TO "postgres";

REVOKE ALL ON FUNCTION "private"."reversal_original"(boolean, uuid, uuid, text, text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."reversal_original"(boolean, uuid, uuid, text, text) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."reversal_original"(boolean, uuid, uuid, text, text) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."reversal_original"(boolean, uuid, uuid, text, text) TO "postgres";

REVOKE ALL ON FUNCTION "private"."uncount_batch"(uuid, text[], numeric[]) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."uncount_batch"(uuid, text[], numeric[]) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."uncount_batch"(uuid, text[], numeric[]) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."uncount_batch"(uuid, text[], numeric[]) TO "postgres";
