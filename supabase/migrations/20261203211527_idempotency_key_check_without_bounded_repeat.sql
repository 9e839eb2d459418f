SET local check_function_bodies = off;

CREATE OR REPLACE FUNCTION private.apply_payment_event (
  p_event_id          text,
  p_event_type        text,
  p_livemode          boolean,
  p_expected_livemode boolean,
  p_payment_intent_id text,
  p_account_id        text,
  p_amount            numeric,
  p_currency          text
)
  RETURNS jsonb
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path TO ''
  AS $function$
declare
  v_known boolean := p_event_type in ('payment_intent.succeeded', 'charge.refunded');
  v_problem text;
  v_currency text := upper(p_currency);
  v_account_id uuid;
begin
  if coalesce(auth.role(), '') <> 'service_role' then
    raise exception using errcode = 'BK010',
      message = 'apply_payment_event is for the payments webhook only';
  end if;
  if p_event_id is null or char_length(p_event_id) not between 1 and 255 then
    perform private.raise_invalid('p_event_id', 'event id must be 1 to 255 characters');
  end if;
  if p_event_type is null or char_length(p_event_type) not between 1 and 100 then
    perform private.raise_invalid('p_event_type', 'event type must be 1 to 100 characters');
  end if;
  if p_livemode is null or p_expected_livemode is null then
    perform private.raise_invalid('p_livemode', 'livemode is required');
  end if;
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(
    'payment:' || case when v_known and p_payment_intent_id is not null
                       then p_payment_intent_id else p_event_id end, 0));
  if exists (select from public.payment_events where event_id = p_event_id) then
    return (select to_jsonb(e) || '{"replayed": true}'::jsonb
              from public.payment_events as e where e.event_id = p_event_id);
  end if;
  if not v_known or p_livemode <> p_expected_livemode then
    return private.record_payment_event(
      p_event_id, p_event_type, p_livemode, 'ignored',
      case when v_known then format('a livemode=%s event where %s events are expected',
                                    p_livemode, case when p_expected_livemode then 'live' else 'test' end)
           else format('event type %s is not handled', p_event_type) end,
      null, null, null, null, null);
  end if;
  v_problem := private.payment_event_problem(
    p_event_type, p_payment_intent_id, p_account_id, p_amount, p_currency);
  if v_problem is not null then
    return private.record_payment_event(
      p_event_id, p_event_type, p_livemode, 'unapplied', v_problem,
      case when char_length(p_payment_intent_id) <= 255
                 and p_payment_intent_id ~ '^[A-Za-z0-9_]+$' then p_payment_intent_id end,
      null, null, null, null);
  end if;
  if p_event_type = 'charge.refunded' then
    return private.apply_refund(p_event_id, p_livemode, p_payment_intent_id, p_amount::bigint,
                                v_currency);
  end if;
  v_account_id := p_account_id::uuid;
  return private.apply_payment(p_event_id, p_livemode, p_payment_intent_id, v_account_id,
                               p_amount::bigint, v_currency);
end;
$function$;

CREATE OR REPLACE FUNCTION private.payment_event_problem (
  p_event_type        text,
  p_payment_intent_id text,
  p_account_id        text,
  p_amount            numeric,
  p_currency          text
)
  RETURNS text
  LANGUAGE sql
  STABLE
  SET search_path TO ''
  AS $function$
  select case
    when p_payment_intent_id is null or char_length(p_payment_intent_id) > 255
         or p_payment_intent_id !~ '^[A-Za-z0-9_]+$' then
      'the event names no payment intent'
    when p_event_type = 'payment_intent.succeeded' and p_account_id is null then
      'the payment''s metadata has no account_id'
    when p_event_type = 'payment_intent.succeeded'
         and p_account_id !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
      format('the payment''s metadata account_id (%s) is not an account id', left(p_account_id, 64))
    when p_amount is null or p_amount <> trunc(p_amount) then
      'the event has no amount in minor units'
    when p_amount <= 0 and p_event_type = 'payment_intent.succeeded' then
      'the payment received nothing'
    when p_amount not between 0 and 9223372036854775807 then
      format('amount (%s) is beyond what the ledger can hold', p_amount)
    when p_currency is null
         or not exists (select from public.currencies where code = upper(p_currency)) then
      format('currency (%s) is not supported', left(coalesce(p_currency, 'none'), 16))
  end
$function$;

CREATE OR REPLACE FUNCTION private.require_idempotency_key (
  p_key text
)
  RETURNS void
  LANGUAGE plpgsql
  IMMUTABLE
  SET search_path TO ''
  AS $function$
begin
  if p_key is null or char_length(p_key) > 255 or p_key !~ '^[A-Za-z0-9_.:-]+$' then
    perform private.raise_invalid('p_idempotency_key',
      'idempotency key must be 1 to 255 characters of A-Z a-z 0-9 _ . : -');
  end if;
end;
$function$;
