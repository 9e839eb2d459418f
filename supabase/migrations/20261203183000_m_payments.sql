SET local check_function_bodies = off;

CREATE TABLE "public"."payment_events" (
  "id"                bigint                   GENERATED ALWAYS AS IDENTITY NOT NULL,
  "event_id"          text                     NOT NULL,
  "event_type"        text                     NOT NULL,
  "livemode"          boolean                  NOT NULL,
  "status"            text                     NOT NULL,
  "reason"            text,
  "payment_intent_id" text,
  "account_id"        uuid,
  "amount_minor"      bigint,
  "currency"          text,
  "transfer_id"       uuid,
  "received_at"       timestamp with time zone NOT NULL DEFAULT now(),
  CONSTRAINT "payment_events_applied_have_transfers" CHECK (((status = 'applied'::text) = (transfer_id IS NOT NULL))),
  CONSTRAINT "payment_events_currency_check" CHECK ((char_length(currency) <= 3)),
  CONSTRAINT "payment_events_event_id_check" CHECK (((char_length(event_id) >= 1) AND (char_length(event_id) <= 255))),
  CONSTRAINT "payment_events_event_id_key" UNIQUE (event_id),
  CONSTRAINT "payment_events_event_type_check" CHECK (((char_length(event_type) >= 1) AND (char_length(event_type) <= 100))),
  CONSTRAINT "payment_events_payment_intent_id_check" CHECK (((char_length(payment_intent_id) >= 1) AND (char_length(payment_intent_id) <= 255))),
  CONSTRAINT "payment_events_pkey" PRIMARY KEY (id),
  CONSTRAINT "payment_events_reason_check" CHECK ((char_length(reason) <= 500)),
  CONSTRAINT "payment_events_status_check" CHECK ((status = ANY (ARRAY['applied'::text, 'unapplied'::text, 'ignored'::text]))),
  CONSTRAINT "payment_events_transfer_id_key" UNIQUE (transfer_id)
);

ALTER TABLE "public"."payment_events"
  ENABLE ROW LEVEL SECURITY;

REVOKE ALL ON TABLE "public"."payment_events" FROM "anon";

CREATE OR REPLACE FUNCTION private.apply_payment (
  p_event_id          text,
  p_livemode          boolean,
  p_payment_intent_id text,
  p_account_id        uuid,
  p_amount_minor      bigint,
  p_currency          text
)
  RETURNS jsonb
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
declare
  v_locked public.accounts[];
  v_refusal text[];
  v_transfer public.transfers;
  v_description text := format('card payment %s', p_payment_intent_id);
begin
  if exists (select from public.payment_events
              where payment_intent_id = p_payment_intent_id
                and event_type = 'payment_intent.succeeded' and status = 'applied') then
    return private.record_payment_event(
      p_event_id, 'payment_intent.succeeded', p_livemode, 'ignored',
      format('payment (%s) was deposited already', p_payment_intent_id),
      p_payment_intent_id, p_account_id, p_amount_minor, p_currency, null);
  end if;
  v_locked := private.lock_payment_accounts(
    p_account_id, private.payment_provider_account(p_currency));
  v_refusal := private.cash_refusal(
    'deposit', p_account_id, v_locked[1], v_locked[2],
    private.major_units(p_amount_minor, p_currency), p_amount_minor, p_currency);
  if v_refusal is not null then
    return private.record_payment_event(
      p_event_id, 'payment_intent.succeeded', p_livemode, 'unapplied', v_refusal[2],
      p_payment_intent_id, p_account_id, p_amount_minor, p_currency, null);
  end if;
  v_transfer := private.post_transfer(
    gen_random_uuid(), 'deposit', v_locked[2], v_locked[1], p_amount_minor, v_description, null);
  return private.record_payment_event(
    p_event_id, 'payment_intent.succeeded', p_livemode, 'applied', null,
    p_payment_intent_id, p_account_id, p_amount_minor, p_currency, v_transfer.id);
end;
$function$;

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
      case when p_payment_intent_id ~ '^[A-Za-z0-9_]{1,255}$' then p_payment_intent_id end,
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

ALTER FUNCTION "private"."apply_payment_event"(text, text, boolean, boolean, text, text, numeric, text) OWNER TO "ledger_owner";

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
  v_deposited bigint;
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
  select t.amount into v_deposited from public.transfers as t where t.id = v_deposit.transfer_id;
  select coalesce(sum(t.amount), 0) into v_refunded
    from public.payment_events as e
    join public.transfers as t on t.id = e.transfer_id
   where e.payment_intent_id = p_payment_intent_id
     and e.event_type = 'charge.refunded' and e.status = 'applied';
  v_reason := case
    when p_currency <> v_deposit.currency then
      format('refund in %s of payment (%s) deposited in %s', p_currency, p_payment_intent_id,
             v_deposit.currency)
    when p_refunded_minor > v_deposited then
      format('refunds (%s) of payment (%s) exceed its deposit (%s)',
             private.format_amount(p_refunded_minor, p_currency), p_payment_intent_id,
             private.format_amount(v_deposited, p_currency))
  end;
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

CREATE OR REPLACE FUNCTION private.lock_payment_accounts (
  p_account_id  uuid,
  p_provider_id uuid
)
  RETURNS public.accounts[]
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
declare
  v_row public.accounts;
  v_account public.accounts;
  v_provider public.accounts;
begin
  for v_row in
    select * from public.accounts
     where id in (p_provider_id, p_account_id)
     order by id
       for no key update
  loop
    if v_row.deferred_credits then
      v_row := private.settle_account(v_row);
    end if;
    if v_row.id = p_provider_id then v_provider := v_row; end if;
    if v_row.id = p_account_id then v_account := v_row; end if;
  end loop;
  return array[v_account, v_provider];
end;
$function$;

CREATE OR REPLACE FUNCTION private.major_units (
  p_amount_minor bigint,
  p_currency     text
)
  RETURNS numeric
  LANGUAGE sql
  STABLE
  SET search_path TO ''
  AS $function$
  select round(p_amount_minor / 10::numeric ^ c.exponent, c.exponent)
    from public.currencies as c where c.code = p_currency
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
    when p_payment_intent_id is null or p_payment_intent_id !~ '^[A-Za-z0-9_]{1,255}$' then
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

CREATE OR REPLACE FUNCTION private.payment_provider_account (
  p_currency text
)
  RETURNS uuid
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
begin
  insert into public.accounts (kind, system_purpose, currency, nickname)
  values ('system', 'payment_provider', p_currency, p_currency || ' payment provider')
  on conflict (currency, system_purpose) where kind = 'system' do nothing;
  return private.system_account(p_currency, 'payment_provider');
end;
$function$;

CREATE OR REPLACE FUNCTION private.record_payment_event (
  p_event_id          text,
  p_event_type        text,
  p_livemode          boolean,
  p_status            text,
  p_reason            text,
  p_payment_intent_id text,
  p_account_id        uuid,
  p_amount_minor      bigint,
  p_currency          text,
  p_transfer_id       uuid
)
  RETURNS jsonb
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
declare
  v_event public.payment_events;
begin
  insert into public.payment_events
    (event_id, event_type, livemode, status, reason, payment_intent_id, account_id,
     amount_minor, currency, transfer_id)
  values
    (p_event_id, p_event_type, p_livemode, p_status, left(p_reason, 500), p_payment_intent_id,
     p_account_id, p_amount_minor, p_currency, p_transfer_id)
  returning * into v_event;
  return to_jsonb(v_event) || '{"replayed": false}'::jsonb;
end;
$function$;

CREATE OR REPLACE FUNCTION public.apply_payment_event (
  p_event_id          text,
  p_event_type        text,
  p_livemode          boolean,
  p_expected_livemode boolean,
  p_payment_intent_id text    DEFAULT NULL::text,
  p_account_id        text    DEFAULT NULL::text,
  p_amount            numeric DEFAULT NULL::numeric,
  p_currency          text    DEFAULT NULL::text
)
  RETURNS jsonb
  LANGUAGE sql
  SET search_path TO ''
  AS $function$
  select private.apply_payment_event(p_event_id, p_event_type, p_livemode, p_expected_livemode,
                                     p_payment_intent_id, p_account_id, p_amount, p_currency)
$function$;

REVOKE ALL ON FUNCTION "public"."apply_payment_event"(text, text, boolean, boolean, text, text, numeric, text) FROM PUBLIC, "anon", "authenticated";

ALTER TABLE "public"."payment_events"
  ADD CONSTRAINT "payment_events_transfer_id_fkey" FOREIGN KEY (transfer_id) REFERENCES public.transfers(id);

CREATE UNIQUE INDEX payment_events_one_deposit_per_payment ON public.payment_events USING btree (payment_intent_id)
  WHERE ((event_type = 'payment_intent.succeeded'::text) AND (status = 'applied'::text));

CREATE INDEX payment_events_payment_intent_id_idx ON public.payment_events USING btree (payment_intent_id);

CREATE INDEX payment_events_status_id_idx ON public.payment_events USING btree (status, id);

CREATE TRIGGER payment_events_are_append_only
  BEFORE DELETE OR UPDATE ON public.payment_events
  FOR EACH ROW
  EXECUTE FUNCTION private.refuse_change('payment events are append-only');

CREATE TRIGGER payment_events_cannot_be_truncated
  BEFORE TRUNCATE ON public.payment_events
  FOR EACH STATEMENT
  EXECUTE FUNCTION private.refuse_change('payment events are append-only');

CREATE TRIGGER payment_events_come_from_the_webhook
  BEFORE INSERT ON public.payment_events
  FOR EACH ROW
  WHEN ((CURRENT_USER <> 'ledger_owner'::name))
  EXECUTE FUNCTION private.refuse_change('payment events are written only by the ledger''s functions');

CREATE POLICY "Admins can read payment events" ON "public"."payment_events"
  FOR SELECT
  TO "authenticated"
  USING (( SELECT private.is_admin() AS is_admin));

REVOKE ALL ON FUNCTION "private"."apply_payment"(text, boolean, text, uuid, bigint, text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."apply_payment"(text, boolean, text, uuid, bigint, text) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."apply_payment"(text, boolean, text, uuid, bigint, text) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."apply_payment"(text, boolean, text, uuid, bigint, text) TO "postgres";

REVOKE ALL ON FUNCTION "private"."apply_payment_event"(text, text, boolean, boolean, text, text, numeric, text) FROM PUBLIC;

REVOKE ALL ON FUNCTION "private"."apply_payment_event"(text, text, boolean, boolean, text, text, numeric, text) FROM "ledger_owner";

GRANT EXECUTE ON FUNCTION "private"."apply_payment_event"(text, text, boolean, boolean, text, text, numeric, text) TO "ledger_owner";

GRANT EXECUTE ON FUNCTION "private"."apply_payment_event"(text, text, boolean, boolean, text, text, numeric, text) TO "service_role";

REVOKE ALL ON FUNCTION "private"."apply_refund"(text, boolean, text, bigint, text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."apply_refund"(text, boolean, text, bigint, text) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."apply_refund"(text, boolean, text, bigint, text) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."apply_refund"(text, boolean, text, bigint, text) TO "postgres";

REVOKE ALL ON FUNCTION "private"."lock_payment_accounts"(uuid, uuid) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."lock_payment_accounts"(uuid, uuid) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."lock_payment_accounts"(uuid, uuid) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."lock_payment_accounts"(uuid, uuid) TO "postgres";

REVOKE ALL ON FUNCTION "private"."major_units"(bigint, text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."major_units"(bigint, text) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."major_units"(bigint, text) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."major_units"(bigint, text) TO "postgres";

REVOKE ALL ON FUNCTION "private"."payment_event_problem"(text, text, text, numeric, text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."payment_event_problem"(text, text, text, numeric, text) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."payment_event_problem"(text, text, text, numeric, text) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."payment_event_problem"(text, text, text, numeric, text) TO "postgres";

REVOKE ALL ON FUNCTION "private"."payment_provider_account"(text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."payment_provider_account"(text) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."payment_provider_account"(text) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."payment_provider_account"(text) TO "postgres";

REVOKE ALL ON FUNCTION "private"."record_payment_event"(text, text, boolean, text, text, text, uuid, bigint, text, uuid) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."record_payment_event"(text, text, boolean, text, text, text, uuid, bigint, text, uuid) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."record_payment_event"(text, text, boolean, text, text, text, uuid, bigint, text, uuid) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."record_payment_event"(text, text, boolean, text, text, text, uuid, bigint, text, uuid) TO "postgres";

REVOKE ALL ON FUNCTION "public"."apply_payment_event"(text, text, boolean, boolean, text, text, numeric, text) FROM "postgres";

GRANT EXECUTE ON FUNCTION "public"."apply_payment_event"(text, text, boolean, boolean, text, text, numeric, text) TO "postgres";

GRANT EXECUTE ON FUNCTION "public"."apply_payment_event"(text, text, boolean, boolean, text, text, numeric, text) TO "service_role";

REVOKE ALL ON SEQUENCE "public"."payment_events_id_seq" FROM "anon";

GRANT SELECT, UPDATE, USAGE ON SEQUENCE "public"."payment_events_id_seq" TO "anon";

REVOKE ALL ON SEQUENCE "public"."payment_events_id_seq" FROM "authenticated";

GRANT SELECT, UPDATE, USAGE ON SEQUENCE "public"."payment_events_id_seq" TO "authenticated";

GRANT SELECT, UPDATE, USAGE ON SEQUENCE "public"."payment_events_id_seq" TO "ledger_owner";

REVOKE ALL ON SEQUENCE "public"."payment_events_id_seq" FROM "postgres";

GRANT SELECT, UPDATE, USAGE ON SEQUENCE "public"."payment_events_id_seq" TO "postgres";

REVOKE ALL ON SEQUENCE "public"."payment_events_id_seq" FROM "service_role";

GRANT SELECT, UPDATE, USAGE ON SEQUENCE "public"."payment_events_id_seq" TO "service_role";

REVOKE ALL ON TABLE "public"."payment_events" FROM "authenticated";

GRANT SELECT ON TABLE "public"."payment_events" TO "authenticated";

GRANT DELETE, INSERT, SELECT, UPDATE ON TABLE "public"."payment_events" TO "ledger_owner";

REVOKE ALL ON TABLE "public"."payment_events" FROM "postgres";

GRANT DELETE, INSERT, REFERENCES, SELECT, TRIGGER, TRUNCATE, UPDATE ON TABLE "public"."payment_events" TO "postgres";

REVOKE ALL ON TABLE "public"."payment_events" FROM "service_role";

GRANT SELECT ON TABLE "public"."payment_events" TO "service_role";
