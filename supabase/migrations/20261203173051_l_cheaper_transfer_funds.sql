SET local check_function_bodies = off;

CREATE OR REPLACE FUNCTION private.entry_hash (
  p_previous_hash           bytea,
  p_transfer_id             uuid,
  p_account_id              uuid,
  p_account_version         bigint,
  p_amount                  bigint,
  p_balance_after           bigint,
  p_counterparty_account_id uuid,
  p_description             text,
  p_created_at              timestamp with time zone
)
  RETURNS bytea
  LANGUAGE sql
  STABLE
  SET search_path TO ''
  AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION private.post_transfer (
  p_transfer_id  uuid,
  p_kind         text,
  p_from         public.accounts,
  p_to           public.accounts,
  p_amount_minor bigint,
  p_description  text,
  p_initiated_by uuid
)
  RETURNS public.transfers
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
begin
  return private.post_transfer_with_entries(
    p_transfer_id, p_kind, p_from, p_to, p_amount_minor, p_description, p_initiated_by, false);
end;
$function$;

CREATE OR REPLACE FUNCTION private.post_transfer_deferred (
  p_transfer_id  uuid,
  p_kind         text,
  p_from         public.accounts,
  p_to           public.accounts,
  p_amount_minor bigint,
  p_description  text,
  p_initiated_by uuid
)
  RETURNS public.transfers
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
begin
  return private.post_transfer_with_entries(
    p_transfer_id, p_kind, p_from, p_to, p_amount_minor, p_description, p_initiated_by, true);
end;
$function$;

CREATE OR REPLACE FUNCTION private.post_transfer_with_entries (
  p_transfer_id    uuid,
  p_kind           text,
  p_from           public.accounts,
  p_to             public.accounts,
  p_amount_minor   bigint,
  p_description    text,
  p_initiated_by   uuid,
  p_credit_pending boolean
)
  RETURNS public.transfers
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
declare
  v_transfer public.transfers;
begin
  if p_from.deferred_credits then
    p_from := private.settle_account(p_from);
  end if;
  with balances as (
    update public.accounts
       set balance = balance + case when id = p_to.id then p_amount_minor else -p_amount_minor end,
           version = version + 1,
           updated_at = now()
     where id = p_from.id or (id = p_to.id and not p_credit_pending)
  ), lines (account_id, amount, balance_after, account_version, counterparty_account_id) as (
    values (p_from.id, -p_amount_minor, p_from.balance - p_amount_minor, p_from.version + 1, p_to.id),
           (p_to.id, p_amount_minor, p_to.balance + p_amount_minor, p_to.version + 1, p_from.id)
  ), posted as (
    insert into public.entries
      (transfer_id, account_id, amount, balance_after, account_version, description,
       counterparty_account_id, created_at, hash)
    select p_transfer_id, l.account_id, l.amount, l.balance_after, l.account_version,
           p_description, l.counterparty_account_id, now(),
           pg_catalog.sha256(
             coalesce((select e.hash from public.entries as e
                        where e.account_id = l.account_id
                          and e.account_version = l.account_version - 1), ''::bytea)
               || pg_catalog.uuid_send(p_transfer_id)
               || pg_catalog.uuid_send(l.account_id)
               || pg_catalog.int8send(l.account_version)
               || pg_catalog.int8send(l.amount)
               || pg_catalog.int8send(l.balance_after)
               || pg_catalog.uuid_send(l.counterparty_account_id)
               || pg_catalog.int8send((extract(epoch from now()) * 1000000)::bigint)
               || case when p_description is null then '\x00'::bytea
                       else '\x01'::bytea || pg_catalog.convert_to(p_description, 'UTF8') end)
      from lines as l
     where l.account_id = p_from.id or not p_credit_pending
  ), pending as (
    insert into public.pending_credits
      (transfer_id, account_id, amount, description, counterparty_account_id)
    select p_transfer_id, p_to.id, p_amount_minor, p_description, p_from.id
     where p_credit_pending
  )
  insert into public.transfers
    (id, kind, from_account_id, to_account_id, amount, currency, description, initiated_by)
  values
    (p_transfer_id, p_kind, p_from.id, p_to.id, p_amount_minor, p_from.currency, p_description,
     p_initiated_by)
  returning * into v_transfer;
  return v_transfer;
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
  v_hash bytea;
  v_transfer_id uuid := gen_random_uuid();
  v_limits public.transfer_limits;
  v_row public.accounts;
  v_from public.accounts;
  v_to public.accounts;
  v_refusal text[];
begin
  select * into v_currency from public.currencies where code = p_currency;
  if v_currency.code is null then
    perform private.raise_invalid('p_currency', format('currency (%s) is not supported', p_currency));
  end if;
  v_amount := private.minor_units(p_amount, v_currency.exponent, 'p_amount', v_currency.code);
  perform private.check_transfer_request(
    p_from_account_id, p_to_account_id, p_idempotency_key, p_description);
  v_hash := sha256(convert_to(jsonb_build_array(
    'transfer_funds', p_from_account_id, p_to_account_id, v_amount, p_currency, p_description
  )::text, 'UTF8'));
  if not private.claim_idempotency_key(v_caller, p_idempotency_key, v_hash, v_transfer_id) then
    return private.replay_idempotency_key(v_caller, p_idempotency_key, v_hash);
  end if;
  v_counted := case when v_amount > v_currency.max_transfer_minor then 0 else v_amount end;
  v_limits := private.count_money_movement(v_caller, p_currency, v_counted);
  for v_row in
    select * from public.accounts
     where id in (p_from_account_id, p_to_account_id)
       and (id <> p_from_account_id or owner_id = v_caller)
       and (id = p_from_account_id or not deferred_credits)
     order by id
       for no key update
  loop
    if v_row.id = p_from_account_id then v_from := v_row; end if;
    if v_row.id = p_to_account_id then v_to := v_row; end if;
  end loop;
  if v_to.id is null then  -- deferred (credited through pending_credits) or missing
    select * into v_to from public.accounts where id = p_to_account_id;
    v_to.deferred_credits := true;
  end if;
  if v_from.deferred_credits then
    v_from := private.settle_account(v_from);
  end if;
  v_refusal := private.transfer_refusal(
    p_from_account_id, p_to_account_id, v_from, v_to, p_amount, v_amount, v_currency, v_limits);
  if v_refusal is not null then
    update public.transfer_limits set outgoing_minor = greatest(outgoing_minor - v_counted, 0)
     where user_id = v_caller and currency = p_currency;
    return private.refuse(v_caller, p_idempotency_key, v_refusal[1], v_refusal[2], v_refusal[3]);
  end if;
  return to_jsonb(private.post_transfer_with_entries(v_transfer_id, 'transfer', v_from, v_to,
    v_amount, p_description, v_caller, v_to.deferred_credits)) || '{"replayed": false}'::jsonb;
end;
$function$;

REVOKE ALL ON FUNCTION "private"."post_transfer_with_entries"(uuid, text, public.accounts, public.accounts, bigint, text, uuid, boolean) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."post_transfer_with_entries"(uuid, text, public.accounts, public.accounts, bigint, text, uuid, boolean) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."post_transfer_with_entries"(uuid, text, public.accounts, public.accounts, bigint, text, uuid, boolean) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."post_transfer_with_entries"(uuid, text, public.accounts, public.accounts, bigint, text, uuid, boolean) TO "postgres";
