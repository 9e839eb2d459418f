-- Loan repayments share the money-movement rate limit; limit counters never
-- overflow.
--
-- Why: loan_repay had no rate limit (800 repayments of 0.01 from 10
-- connections in 5.6 s, each locking the currency's shared loan-funding
-- row), while every transfer counts towards the caller's per-minute window
-- in `transfer_limits` (currencies.transfers_per_minute). A repayment now
-- counts in the same (user, currency) window, after its key is claimed and
-- before any lock, and over the limit raises the same BK008 (429 with
-- Retry-After) with the same seconds-to-wait detail. The currency is the
-- loan's when the caller borrowed it, else the paying account's; a call
-- naming neither is refused as not found and not counted.
--
-- And: an amount of 92233720368547758.07 USD is 2^63 - 1 cents, a valid
-- bigint, so it passed validation and then overflowed the day's outgoing
-- total in transfer_funds' limit upsert (a generic error, not a refusal).
-- An amount over the per-transfer limit is now not added to the day's total
-- (that limit refuses it, BK007 limit_exceeded), and the total saturates at
-- the largest bigint instead of overflowing. The other money RPCs do no
-- bigint sums of caller amounts: loan_apply and loan_repay compare the
-- amount with the product's range and the payoff (BK009, BK012), and
-- admin_deposit and admin_withdraw post it against balances that the
-- overdraft check and the ledger invariants keep far from the edge.

create function private.count_money_movement(p_user_id uuid, p_currency text)
returns void
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_per_minute integer;
  v_limits public.transfer_limits;
begin
  select c.transfers_per_minute into v_per_minute from public.currencies as c where c.code = p_currency;
  if v_per_minute is null then
    return;
  end if;
  insert into public.transfer_limits as l
    (user_id, currency, day, outgoing_minor, window_started_at, window_count)
  values (p_user_id, p_currency, (now() at time zone 'utc')::date, 0, now(), 1)
  on conflict (user_id, currency) do update set
    day = excluded.day,
    outgoing_minor = case when l.day = excluded.day then l.outgoing_minor else 0 end,
    window_started_at = case when l.window_started_at > now() - interval '1 minute'
                             then l.window_started_at else now() end,
    window_count = case when l.window_started_at > now() - interval '1 minute'
                        then l.window_count + 1 else 1 end
  returning * into v_limits;
  if v_limits.window_count > v_per_minute then
    raise exception using
      errcode = 'BK008',
      message = format('more than %s transfers in %s per minute', v_per_minute, p_currency),
      detail = greatest(1, ceil(extract(epoch from
                 v_limits.window_started_at + interval '1 minute' - clock_timestamp())))::text;
  end if;
end;
$$;

revoke execute on function private.count_money_movement(uuid, text) from public;
grant execute on function private.count_money_movement(uuid, text) to ledger_owner;

create or replace function loans_private.loan_repay(
  p_loan_id uuid,
  p_amount numeric,
  p_from_account_id uuid,
  p_idempotency_key text
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_uid uuid := loans_private.require_user('loan_repay');
  -- The canonical request: another RPC's request never hashes the same.
  v_hash bytea := sha256(convert_to(jsonb_build_object(
    'rpc', 'loan_repay', 'loan_id', p_loan_id, 'amount', trim_scale(p_amount),
    'from_account_id', p_from_account_id)::text, 'UTF8'));
  v_transfer_id uuid := gen_random_uuid();
  v_record public.idempotency_records;
  v_reply jsonb;
  v_state text;
  v_message text;
  v_detail text;
begin
  if p_idempotency_key is null or p_idempotency_key !~ '^[A-Za-z0-9_.:-]{1,255}$' then
    raise exception 'idempotency key must be 1 to 255 characters of A-Z a-z 0-9 _ . : -'
      using errcode = 'BK009', detail = 'p_idempotency_key';
  end if;

  -- The ledger's key claim: a concurrent duplicate waits here until the first
  -- commits, then finds its record.
  if not private.claim_idempotency_key(v_uid, p_idempotency_key, v_hash, v_transfer_id) then
    select r.* into v_record from public.idempotency_records as r
    where r.caller_id = v_uid and r.key = p_idempotency_key;
    if v_record.request_hash <> v_hash or v_record.transfer_id is null then
      -- A different request (BK006, raised) or a stored refusal, as the ledger replays them.
      return private.replay_idempotency_key(v_uid, p_idempotency_key, v_hash);
    end if;
    select r.reply into v_reply from loans_private.loan_repayments as r
    where r.transfer_id = v_record.transfer_id;
    return v_reply || '{"replayed": true}'::jsonb;
  end if;

  -- The per-user money-movement rate limit transfers use; raised (BK008),
  -- so a rate-limited repayment rolls back its claim and never happened.
  perform private.count_money_movement(v_uid, coalesce(
    (select l.currency from public.loans as l where l.id = p_loan_id and l.borrower_id = v_uid),
    (select a.currency from public.accounts as a
      where a.id = p_from_account_id and a.owner_id = v_uid)));

  begin
    v_reply := loans_private.repay_once(v_uid, p_loan_id, p_amount, p_from_account_id, v_transfer_id);
  exception
    when sqlstate 'BK001' or sqlstate 'BK002' or sqlstate 'BK004' or sqlstate 'BK005'
      or sqlstate 'BK011' or sqlstate 'BK012' then
      -- Nothing of the repayment survives the rollback to this block; the
      -- refusal is stored under the key and answered with its HTTP status.
      get stacked diagnostics v_state = returned_sqlstate, v_message = message_text,
                              v_detail = pg_exception_detail;
      return private.refuse(v_uid, p_idempotency_key, v_state,
                            loans_private.http_status(v_state), v_message, nullif(v_detail, ''));
  end;
  return v_reply || '{"replayed": false}'::jsonb;
end;
$$;

create or replace function private.transfer_funds(
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
  if v_caller is null then
    raise exception using errcode = 'BK010', message = 'transfer_funds needs a signed-in user';
  end if;
  select * into v_currency from public.currencies where code = p_currency;
  if v_currency.code is null then
    perform private.raise_invalid('p_currency', format('currency (%s) is not supported', p_currency));
  end if;
  v_minor := p_amount * (10::numeric ^ v_currency.exponent);
  if p_amount > 0 and v_minor = trunc(v_minor) and v_minor <= 9223372036854775807 then
    v_amount := v_minor::bigint;
  else
    v_amount := private.minor_units(p_amount, v_currency.exponent);  -- raises its BK009
  end if;
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

  -- An amount over the per-transfer limit is refused by that limit, so it is
  -- not counted towards the day's total; the sum saturates instead of
  -- overflowing a bigint, so an absurd amount is a limit refusal, not a 500.
  v_counted := case when v_amount > v_currency.max_transfer_minor then 0 else v_amount end;
  insert into public.transfer_limits as l
    (user_id, currency, day, outgoing_minor, window_started_at, window_count)
  values (v_caller, p_currency, (now() at time zone 'utc')::date, v_counted, now(), 1)
  on conflict (user_id, currency) do update set
    day = excluded.day,
    outgoing_minor = least(
      excluded.outgoing_minor::numeric
        + case when l.day = excluded.day then l.outgoing_minor else 0 end,
      9223372036854775807)::bigint,
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
       set outgoing_minor = greatest(outgoing_minor - v_counted, 0)
     where user_id = v_caller and currency = p_currency;
    return private.refuse(v_caller, p_idempotency_key, v_refusal[1], v_refusal[2]::smallint,
                          v_refusal[3], v_refusal[4]);
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
$$;
