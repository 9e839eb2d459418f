-- Staff functions: cash deposits and withdrawals, freezing and unfreezing.
--
-- Staff move cash in and out of customer accounts against the bank's system
-- cash account of the currency, so even a deposit is a balanced transfer,
-- written by the same private.post_transfer as a customer's transfer and
-- idempotent the same way. Staff are an admin's token (app_metadata.role =
-- 'admin', never user_metadata), the service_role key, or the dashboard
-- (postgres, no token): private.is_staff(). Anyone else gets BK010. Deposits
-- and withdrawals have no per-transfer or daily limit and no rate limit:
-- those protect customers' own transfers.

create function private.require_staff(p_action text)
returns void
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
  if not private.is_staff() then
    raise exception using errcode = 'BK010', message = format('%s is for bank staff only', p_action);
  end if;
end;
$$;

-- Staff cash movements refuse an amount that would overflow a balance.
--
-- An amount like 92233720368547758.07 USD is 2^63 - 1 cents, a valid bigint,
-- that would overflow the bank's cash balance (already negative by every
-- earlier deposit) in the posting. move_cash checks, in numeric, that both
-- balances stay within a bigint after the movement and otherwise stores BK007
-- (limit_exceeded, details `balance_range`) under the key like any other
-- refusal; the withdrawal's funds check is done in numeric too, so a huge
-- withdrawal is BK001 (insufficient funds), not an overflow.

-- The first rule a deposit or withdrawal breaks, as {sqlstate, message,
-- details}, or null. The caller has locked both accounts.
create function private.cash_refusal(
  p_kind text,
  p_account_id uuid,
  p_account public.accounts,
  p_cash public.accounts,
  p_amount numeric,
  p_amount_minor bigint,
  p_currency text
)
returns text[]
language plpgsql
stable
security invoker
set search_path = ''
as $$
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
$$;

revoke execute on function private.cash_refusal(
  text, uuid, public.accounts, public.accounts, numeric, bigint, text
) from public;

-- The parts of a deposit or withdrawal request checked before its key is
-- claimed, in the order the functions check them: BK009 naming the
-- parameter. Answers the amount in minor units.
create function private.check_cash_request(
  p_account_id uuid, p_amount numeric, p_currency text, p_reference text, p_idempotency_key text
)
returns bigint
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_exponent smallint;
  v_amount bigint;
begin
  select exponent into v_exponent from public.currencies where code = p_currency;
  if v_exponent is null then
    perform private.raise_invalid('p_currency', format('currency (%s) is not supported', p_currency));
  end if;
  v_amount := private.minor_units(p_amount, v_exponent, 'p_amount', p_currency);
  if p_account_id is null then
    perform private.raise_invalid('p_account_id', 'account is required');
  end if;
  if p_reference is null or char_length(p_reference) not between 1 and 280 then
    perform private.raise_invalid('p_reference', 'reference must be 1 to 280 characters');
  end if;
  perform private.require_idempotency_key(p_idempotency_key);
  return v_amount;
end;
$$;

create function private.move_cash(
  p_kind text,
  p_account_id uuid,
  p_amount numeric,
  p_currency text,
  p_reference text,
  p_idempotency_key text
)
returns jsonb
language plpgsql
security invoker
set search_path = ''
as $$
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
$$;

create function private.admin_deposit(
  p_account_id uuid, p_amount numeric, p_currency text, p_reference text, p_idempotency_key text
)
returns jsonb
language sql
security definer
set search_path = ''
as $$
  select private.move_cash('deposit', p_account_id, p_amount, p_currency, p_reference,
                           p_idempotency_key)
$$;

create function private.admin_withdraw(
  p_account_id uuid, p_amount numeric, p_currency text, p_reference text, p_idempotency_key text
)
returns jsonb
language sql
security definer
set search_path = ''
as $$
  select private.move_cash('withdrawal', p_account_id, p_amount, p_currency, p_reference,
                           p_idempotency_key)
$$;

-- Freeze or unfreeze a customer account. Closed accounts stay closed
-- (BK011); freezing a frozen account is a no-op that answers the account.
create function private.set_account_status(p_account_id uuid, p_from text, p_to text)
returns jsonb
language plpgsql
security invoker
set search_path = ''
as $$
declare
  v_account public.accounts;
begin
  select * into v_account from public.accounts
   where id = p_account_id and kind <> 'system'
     for no key update;
  if v_account.id is null then
    raise exception using errcode = 'BK005',
      message = format('account (id=%s) not found', p_account_id);
  end if;
  if v_account.status = 'closed' then
    raise exception using errcode = 'BK011',
      message = format('account (id=%s) is closed', p_account_id), detail = v_account.status;
  end if;
  if v_account.status = p_from then
    update public.accounts set status = p_to where id = p_account_id
    returning * into v_account;
  end if;
  return to_jsonb(v_account);
end;
$$;

create function private.admin_freeze_account(p_account_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform private.require_staff('admin_freeze_account');
  return private.set_account_status(p_account_id, 'active', 'frozen');
end;
$$;

create function private.admin_unfreeze_account(p_account_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform private.require_staff('admin_unfreeze_account');
  return private.set_account_status(p_account_id, 'frozen', 'active');
end;
$$;

revoke execute on function
  private.require_staff(text),
  private.check_cash_request(uuid, numeric, text, text, text),
  private.move_cash(text, uuid, numeric, text, text, text),
  private.set_account_status(uuid, text, text),
  private.admin_deposit(uuid, numeric, text, text, text),
  private.admin_withdraw(uuid, numeric, text, text, text),
  private.admin_freeze_account(uuid),
  private.admin_unfreeze_account(uuid)
from public;

grant execute on function
  private.admin_deposit(uuid, numeric, text, text, text),
  private.admin_withdraw(uuid, numeric, text, text, text),
  private.admin_freeze_account(uuid),
  private.admin_unfreeze_account(uuid)
to authenticated, service_role;

-- The RPCs PostgREST exposes.
create function public.admin_deposit(
  p_account_id uuid, p_amount numeric, p_currency text, p_reference text, p_idempotency_key text
)
returns jsonb
language sql
volatile
security invoker
set search_path = ''
as $$
  select private.admin_deposit(p_account_id, p_amount, p_currency, p_reference, p_idempotency_key)
$$;

create function public.admin_withdraw(
  p_account_id uuid, p_amount numeric, p_currency text, p_reference text, p_idempotency_key text
)
returns jsonb
language sql
volatile
security invoker
set search_path = ''
as $$
  select private.admin_withdraw(p_account_id, p_amount, p_currency, p_reference, p_idempotency_key)
$$;

create function public.admin_freeze_account(p_account_id uuid)
returns jsonb
language sql
volatile
security invoker
set search_path = ''
as $$
  select private.admin_freeze_account(p_account_id)
$$;

create function public.admin_unfreeze_account(p_account_id uuid)
returns jsonb
language sql
volatile
security invoker
set search_path = ''
as $$
  select private.admin_unfreeze_account(p_account_id)
$$;

revoke execute on function
  public.admin_deposit(uuid, numeric, text, text, text),
  public.admin_withdraw(uuid, numeric, text, text, text),
  public.admin_freeze_account(uuid),
  public.admin_unfreeze_account(uuid)
from public, anon, authenticated, service_role;

grant execute on function
  public.admin_deposit(uuid, numeric, text, text, text),
  public.admin_withdraw(uuid, numeric, text, text, text),
  public.admin_freeze_account(uuid),
  public.admin_unfreeze_account(uuid)
to authenticated, service_role;
