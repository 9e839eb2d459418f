-- transfer_funds: a customer moves money from an account they own to any
-- active customer account in the same currency.
--
-- Why this order of work (docs/sql-contract.md has the contract):
--   1. Malformed calls (amount, currency, key, description) are raised as
--      BK009 before anything is written: they are not outcomes to remember.
--   2. The idempotency key is claimed with `insert ... on conflict do
--      nothing` before any other lock, so a concurrent duplicate waits on the
--      unique index until the first call commits and then replays its result:
--      concurrent duplicates make exactly one transfer.
--   3. The caller's (user, currency) counter is bumped in one upsert; over the
--      rate limit raises BK008 (rolling back the claim: a rate-limited call
--      never happened). Refused attempts count towards the rate limit too.
--   4. Both accounts are locked in one statement, in id order, `for no key
--      update` (what the balance update needs; it does not block the foreign
--      key checks of other transfers). The from account is only found when
--      the caller owns it, so another user's account is "not found" and its
--      existence does not leak. System accounts are not destinations.
--   5. Every business rule is checked on the locked rows. A failure is stored
--      under the key and returned with its HTTP status (never raised: that
--      would roll the record back), and the day's outgoing total is given
--      back.
--   6. private.post_transfer writes balances, the transfer and its entries.
-- The success path has no exception block (no subtransaction). Lock order is
-- always key, counter, accounts by id, so two transfers cannot deadlock; a
-- serialization failure or deadlock, should one happen, propagates as
-- 40001/40P01 and is never turned into a business error.

create function private.transfer_funds(
  p_from_account_id uuid,
  p_to_account_id uuid,
  p_amount numeric,
  p_currency text,
  p_idempotency_key text,
  p_description text
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_caller uuid := auth.uid();
  v_currency public.currencies;
  v_amount bigint;
  v_hash bytea;
  v_transfer_id uuid := gen_random_uuid();
  v_limits public.transfer_limits;
  v_row public.accounts;
  v_from public.accounts;
  v_to public.accounts;
  v_refusal text[];
begin
  if v_caller is null then
    raise exception using errcode = 'BK010', message = 'transfer_funds needs a signed-in user';
  end if;
  select * into v_currency from public.currencies where code = p_currency;
  if v_currency.code is null then
    perform private.raise_invalid('p_currency', format('currency (%s) is not supported', p_currency));
  end if;
  v_amount := private.minor_units(p_amount, v_currency.exponent);
  if p_idempotency_key is null or char_length(p_idempotency_key) not between 1 and 255 then
    perform private.raise_invalid('p_idempotency_key', 'idempotency key must be 1 to 255 characters');
  end if;
  if char_length(p_description) > 280 then
    perform private.raise_invalid('p_description', 'description must be at most 280 characters');
  end if;
  if p_from_account_id is null or p_to_account_id is null then
    perform private.raise_invalid(
      case when p_from_account_id is null then 'p_from_account_id' else 'p_to_account_id' end,
      'both accounts are required');
  end if;

  v_hash := sha256(convert_to(jsonb_build_array(
    'transfer_funds', p_from_account_id, p_to_account_id, v_amount, p_currency, p_description
  )::text, 'UTF8'));

  insert into public.idempotency_records (caller_id, key, request_hash, http_status, transfer_id)
  values (v_caller, p_idempotency_key, v_hash, 201, v_transfer_id)
  on conflict do nothing;
  if not found then
    return private.replay_idempotency_key(v_caller, p_idempotency_key, v_hash);
  end if;

  insert into public.transfer_limits as l
    (user_id, currency, day, outgoing_minor, window_started_at, window_count)
  values (v_caller, p_currency, (now() at time zone 'utc')::date, v_amount, now(), 1)
  on conflict (user_id, currency) do update set
    day = excluded.day,
    outgoing_minor = excluded.outgoing_minor
      + case when l.day = excluded.day then l.outgoing_minor else 0 end,
    window_started_at = case when l.window_started_at > now() - interval '1 minute'
                             then l.window_started_at else now() end,
    window_count = case when l.window_started_at > now() - interval '1 minute'
                        then l.window_count + 1 else 1 end
  returning * into v_limits;
  if v_limits.window_count > v_currency.transfers_per_minute then
    raise exception using
      errcode = 'BK008',
      message = format('more than %s transfers in %s per minute', v_currency.transfers_per_minute,
                       p_currency),
      detail = greatest(1, ceil(extract(epoch from
                 v_limits.window_started_at + interval '1 minute' - clock_timestamp())))::text;
  end if;

  for v_row in
    select * from public.accounts
     where id in (p_from_account_id, p_to_account_id)
       and (id <> p_from_account_id or owner_id = v_caller)
     order by id
       for no key update
  loop
    if v_row.id = p_from_account_id then v_from := v_row; end if;
    if v_row.id = p_to_account_id then v_to := v_row; end if;
  end loop;

  v_refusal := case
    when v_from.id is null then
      array['BK005', '404', format('account (id=%s) not found', p_from_account_id)]
    when v_to.id is null or v_to.kind = 'system' then
      array['BK005', '404', format('account (id=%s) not found', p_to_account_id)]
    when v_from.id = v_to.id then
      array['BK003', '422', format('account (id=%s) cannot transfer to itself', v_from.id)]
    when v_from.currency <> p_currency then
      array['BK002', '422', format('account (id=%s) holds %s, not %s', v_from.id, v_from.currency, p_currency)]
    when v_to.currency <> p_currency then
      array['BK002', '422', format('account (id=%s) holds %s, not %s', v_to.id, v_to.currency, p_currency)]
    when v_from.status <> 'active' then
      array['BK004', '409', format('account (id=%s) is %s', v_from.id, v_from.status), v_from.status]
    when v_to.status <> 'active' then
      array['BK004', '409', format('account (id=%s) is %s', v_to.id, v_to.status), v_to.status]
    when v_amount > v_currency.max_transfer_minor then
      array['BK007', '422', format('amount (%s %s) is over the limit of %s per transfer',
                                   p_amount, p_currency, v_currency.max_transfer_minor), 'max_transfer_minor']
    when v_limits.outgoing_minor > v_currency.daily_outgoing_limit_minor then
      array['BK007', '422', format('transfers today would exceed the daily limit of %s minor units of %s',
                                   v_currency.daily_outgoing_limit_minor, p_currency), 'daily_outgoing_limit_minor']
    when v_from.balance - v_amount < -v_from.overdraft_limit then
      array['BK001', '422', format('account (id=%s) has insufficient funds: %s available, %s requested (minor units)',
                                   v_from.id, v_from.balance + v_from.overdraft_limit, v_amount)]
  end;
  if v_refusal is not null then
    update public.transfer_limits
       set outgoing_minor = outgoing_minor - v_amount
     where user_id = v_caller and currency = p_currency;
    return private.refuse(v_caller, p_idempotency_key, v_refusal[1], v_refusal[2]::smallint,
                          v_refusal[3], v_refusal[4]);
  end if;

  return to_jsonb(private.post_transfer(
    v_transfer_id, 'transfer', v_from, v_to, v_amount, p_description, v_caller
  )) || '{"replayed": false}'::jsonb;
end;
$$;

revoke execute on function private.transfer_funds(uuid, uuid, numeric, text, text, text)
  from public;
grant execute on function private.transfer_funds(uuid, uuid, numeric, text, text, text)
  to authenticated;

-- The RPC PostgREST exposes: a thin invoker wrapper, so the definer function
-- stays out of the exposed schema.
create function public.transfer_funds(
  p_from_account_id uuid,
  p_to_account_id uuid,
  p_amount numeric,
  p_currency text,
  p_idempotency_key text,
  p_description text default null
)
returns jsonb
language sql
volatile
security invoker
set search_path = ''
as $$
  select private.transfer_funds(
    p_from_account_id, p_to_account_id, p_amount, p_currency, p_idempotency_key, p_description
  )
$$;

revoke execute on function public.transfer_funds(uuid, uuid, numeric, text, text, text)
  from public, anon, authenticated, service_role;
grant execute on function public.transfer_funds(uuid, uuid, numeric, text, text, text)
  to authenticated;
