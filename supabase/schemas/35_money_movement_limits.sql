-- Limits shared by every money-moving call, and counters that never overflow.
--
-- A loan repayment counts in the same per-(user, currency) one-minute window
-- of `transfer_limits` as a transfer (currencies.transfers_per_minute), after
-- its key is claimed and before any lock, and over the limit raises the same
-- BK008 with the same seconds-to-wait detail. The currency is the loan's when
-- the caller borrowed it, else the paying account's; a call naming neither is
-- refused as not found and not counted.
--
-- An amount of 92233720368547758.07 USD is 2^63 - 1 cents, a valid bigint: an
-- amount over the per-transfer limit is not added to the day's total (that
-- limit refuses it, BK007), and the total saturates at the largest bigint
-- instead of overflowing. The other money RPCs do no bigint sums of caller
-- amounts: loan_apply and loan_repay compare the amount with the product's
-- range and the payoff (BK009, BK012), and admin_deposit and admin_withdraw
-- post it against balances that the overdraft check and the ledger
-- invariants keep far from the edge.

-- Count one money movement of `p_user_id` in `p_currency`: the one-minute
-- window for the rate limit (over it: BK008 with the seconds to wait) and, for
-- a transfer, `p_counted_minor` towards the day's outgoing total, saturating
-- at the largest bigint. One upsert, so the limits hold across every function
-- instance without a second round trip. An unknown currency counts nothing.
create function private.count_money_movement(
  p_user_id uuid, p_currency text, p_counted_minor bigint default 0
)
returns public.transfer_limits
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
    return null;
  end if;
  insert into public.transfer_limits as l
    (user_id, currency, day, outgoing_minor, window_started_at, window_count)
  values (p_user_id, p_currency, (now() at time zone 'utc')::date, p_counted_minor, now(), 1)
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
  if v_limits.window_count > v_per_minute then
    raise exception using
      errcode = 'BK008',
      message = format('more than %s transfers in %s per minute', v_per_minute, p_currency),
      detail = greatest(1, ceil(extract(epoch from
                 v_limits.window_started_at + interval '1 minute' - clock_timestamp())))::text;
  end if;
  return v_limits;
end;
$$;

revoke execute on function private.count_money_movement(uuid, text, bigint) from public;

grant execute on function private.count_money_movement(uuid, text, bigint) to ledger_owner;
