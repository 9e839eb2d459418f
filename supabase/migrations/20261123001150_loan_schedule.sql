-- The amortization schedule and the 30/360 day count, exact in minor units.
--
-- Why: the schedule is what the customer signs up to, so it is computed in
-- the database, once, the same way for every caller, with integer minor units
-- (a currency's exponent only matters when converting major units at the
-- API, so 0-decimal JPY and 3-decimal KWD work unchanged).
--
-- The rules, which tests/integration/test_loans_schedule.py recomputes
-- independently with Python's decimal:
-- * Day count 30/360: each installment covers one month of 30 days in a
--   360-day year, so its interest is
--     round_half_up(balance * annual_rate_bps * 30 / (360 * 10000))
--   on the principal still owed at the start of that month. Due dates are the
--   start date plus 1, 2, ... months (clamped to the end of shorter months);
--   their calendar length never changes the interest. A part of a month (the
--   payoff quote) is counted with the 30E/360 rule in
--   loans_private.days_30_360.
-- * equal_installments (annuity): the payment is
--     round_half_up(P * i * (1 + i)^n / ((1 + i)^n - 1)), i = rate * 30/360,
--   or round_half_up(P / n) at a zero rate; each installment's principal is
--   the payment minus its interest.
-- * equal_principal: each installment's principal is round_half_up(P / n).
-- * In both, a principal part never exceeds what is still owed, and the last
--   installment takes whatever principal remains, so the parts sum to the
--   principal exactly and the last installment absorbs the rounding.

-- 30E/360 (Eurobond basis): 360 days a year, 30 a month, and day 31 counts as
-- day 30 at either end. Used for the part of a month in the payoff quote,
-- which caps it at 30 days.
create function loans_private.days_30_360(p_from date, p_to date)
returns integer
language sql
immutable
strict
set search_path = ''
as $$
  select 360 * (extract(year from p_to)::integer - extract(year from p_from)::integer)
       + 30 * (extract(month from p_to)::integer - extract(month from p_from)::integer)
       + (least(extract(day from p_to)::integer, 30) - least(extract(day from p_from)::integer, 30))
$$;

create function loans_private.amortization_schedule(
  p_principal bigint,
  p_annual_rate_bps integer,
  p_term_months integer,
  p_method text,
  p_start_date date
)
returns table (number integer, due_date date, principal bigint, interest bigint)
language plpgsql
immutable
set search_path = ''
as $$
declare
  v_rate numeric;
  v_growth numeric;
  v_payment numeric;
  v_balance bigint := p_principal;
begin
  if p_principal is null or p_principal <= 0 then
    raise exception 'schedule principal (%) must be positive', p_principal using errcode = 'BK009';
  end if;
  if p_term_months is null or p_term_months not between 1 and 480 then
    raise exception 'schedule term (% months) must be between 1 and 480', p_term_months using errcode = 'BK009';
  end if;
  if p_annual_rate_bps is null or p_annual_rate_bps not between 0 and 10000 then
    raise exception 'schedule rate (% bps) must be between 0 and 10000', p_annual_rate_bps using errcode = 'BK009';
  end if;
  if p_method is null or p_method not in ('equal_installments', 'equal_principal') then
    raise exception 'amortization method (%) is unknown', p_method using errcode = 'BK009';
  end if;

  if p_method = 'equal_installments' then
    if p_annual_rate_bps = 0 then
      v_payment := p_principal::numeric / p_term_months;
    else
      v_rate := round(p_annual_rate_bps::numeric * 30 / (360 * 10000), 40);
      v_growth := power(1 + v_rate, p_term_months);
      v_payment := p_principal * v_rate * v_growth / (v_growth - 1);
    end if;
  else
    v_payment := p_principal::numeric / p_term_months;
  end if;
  v_payment := round(v_payment);

  for k in 1..p_term_months loop
    number := k;
    due_date := (p_start_date + make_interval(months => k))::date;
    interest := round(v_balance::numeric * p_annual_rate_bps * 30 / (360 * 10000))::bigint;
    if k = p_term_months then
      principal := v_balance;
    elsif p_method = 'equal_installments' then
      principal := least(greatest(v_payment - interest, 0), v_balance)::bigint;
    else
      principal := least(v_payment, v_balance)::bigint;
    end if;
    v_balance := v_balance - principal;
    return next;
  end loop;
end;
$$;
