SET local check_function_bodies = off;

DROP FUNCTION "loans_private"."allocate_repayment"(public.loans, bigint, date);

DROP FUNCTION "private"."minor_units"(numeric, smallint, text);

CREATE OR REPLACE FUNCTION loans_private.allocate_repayment (
  p_loan            public.loans,
  p_amount          bigint,
  p_date            date,
  p_running         integer,
  p_running_accrued bigint
)
  RETURNS jsonb
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
declare
  v_left bigint := p_amount;
  v_past_due integer[] := array(
    select i.number from public.loan_installments as i
    where i.loan_id = p_loan.id and i.status in ('pending', 'overdue')
      and (i.status = 'overdue' or i.due_date < p_date)
    order by i.number);
  v_current integer;
  v_current_accrued bigint;
  v_past_due_interest bigint;
  v_past_due_principal bigint;
  v_current_interest bigint;
  v_current_principal bigint;
  v_prepaid bigint;
begin
  -- 1. and 2. past-due interest, then past-due principal, oldest first.
  v_past_due_interest := loans_private.pay_installments(p_loan.id, v_past_due, 'interest', v_left);
  v_left := v_left - v_past_due_interest;
  v_past_due_principal := loans_private.pay_installments(p_loan.id, v_past_due, 'principal', v_left);
  v_left := v_left - v_past_due_principal;

  -- 3. the current installment: the first one not yet past due and not settled.
  -- Its interest: all of it on its due date; before, only what has accrued
  -- (the running installment's share; a later one's has not begun).
  select i.number,
         case when i.due_date <= p_date then i.interest_due - i.interest_paid
              when i.number = p_running then greatest(p_running_accrued - i.interest_paid, 0)
              else 0 end
    into v_current, v_current_accrued
  from public.loan_installments as i
  where i.loan_id = p_loan.id and i.status = 'pending' and i.due_date >= p_date
    and (i.principal_paid < i.principal_due or i.interest_paid < i.interest_due)
  order by i.number
  limit 1;
  v_current_interest := loans_private.pay_installments(
    p_loan.id, array[v_current], 'interest', least(v_left, coalesce(v_current_accrued, 0)));
  v_left := v_left - v_current_interest;
  v_current_principal := loans_private.pay_installments(p_loan.id, array[v_current], 'principal', v_left);
  v_left := v_left - v_current_principal;

  -- 4. prepayment of principal, from the last installment backwards.
  v_prepaid := loans_private.pay_installments(p_loan.id, array(
    select i.number from public.loan_installments as i
    where i.loan_id = p_loan.id and i.principal_paid < i.principal_due
    order by i.number desc), 'principal', v_left);
  v_left := v_left - v_prepaid;

  if v_left <> 0 then
    -- The payoff check before this makes it unreachable; refuse rather than
    -- lose money if that ever changes.
    raise exception 'repayment of loan (id=%) left % minor units unallocated', p_loan.id, v_left;
  end if;
  if v_prepaid > 0 then
    perform loans_private.reprice_after_prepayment(p_loan, p_date, v_current);
  end if;

  -- 6. what is settled is paid.
  update public.loan_installments
  set status = 'paid', paid_on = p_date
  where loan_id = p_loan.id and status in ('pending', 'overdue')
    and principal_paid = principal_due and interest_paid = interest_due;

  return jsonb_build_object(
    'amount', p_amount,
    'interest', v_past_due_interest + v_current_interest,
    'principal', v_past_due_principal + v_current_principal + v_prepaid,
    'past_due_interest', v_past_due_interest,
    'past_due_principal', v_past_due_principal,
    'current_interest', v_current_interest,
    'current_principal', v_current_principal,
    'prepaid_principal', v_prepaid
  );
end;
$function$;

CREATE OR REPLACE FUNCTION loans_private.loan_apply (
  p_account_id  uuid,
  p_principal   numeric,
  p_currency    text,
  p_term_months integer,
  p_product_id  uuid,
  p_purpose     text
)
  RETURNS jsonb
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path TO ''
  AS $function$
declare
  v_uid uuid := private.require_user('loan_apply');
  v_account public.accounts;
  v_product public.loan_products;
  v_principal bigint;
  v_loan_id uuid;
  v_exponent smallint;
begin
  select c.exponent into v_exponent from public.currencies as c where c.code = p_currency;
  if not found then
    raise exception 'currency (code=%) is not supported', p_currency
      using errcode = 'BK009', detail = 'currency';
  end if;
  v_principal := private.minor_units(p_principal, v_exponent, 'principal', p_currency);
  if p_term_months is null or p_term_months < 1 then
    raise exception 'term_months (%) must be at least 1', p_term_months
      using errcode = 'BK009', detail = 'term_months';
  end if;
  if char_length(p_purpose) > 500 then
    raise exception 'purpose is longer than 500 characters'
      using errcode = 'BK009', detail = 'purpose';
  end if;

  select a.* into v_account from public.accounts as a
  where a.id = p_account_id and a.owner_id = v_uid;
  if not found then
    raise exception 'account (id=%) not found', p_account_id using errcode = 'BK005';
  end if;
  if v_account.currency <> p_currency then
    raise exception 'account (id=%) is in %, the loan in %', p_account_id, v_account.currency, p_currency
      using errcode = 'BK002';
  end if;
  if v_account.status <> 'active' then
    raise exception 'account (id=%) is %', p_account_id, v_account.status using errcode = 'BK004';
  end if;

  v_product := loans_private.product_for_application(
    p_product_id, p_currency, v_principal, p_term_months);

  insert into public.loans
    (borrower_id, account_id, product_id, currency, principal, term_months, annual_rate_bps,
     amortization_method, day_count, purpose)
  values
    (v_uid, v_account.id, v_product.id, p_currency, v_principal, p_term_months,
     v_product.annual_rate_bps, v_product.amortization_method, v_product.day_count, p_purpose)
  returning id into v_loan_id;

  -- The schedule it would have if disbursed today; approval moves the due
  -- dates to the disbursement date (the amounts do not depend on dates).
  insert into public.loan_installments (loan_id, number, due_date, principal_due, interest_due, status)
  select v_loan_id, s.number, s.due_date, s.principal, s.interest,
         case when s.principal = 0 and s.interest = 0 then 'paid' else 'pending' end
  from loans_private.amortization_schedule(
         v_principal, v_product.annual_rate_bps, p_term_months, v_product.amortization_method,
         private.business_date()) as s;

  return loans_private.loan_json(v_loan_id);
end;
$function$;

CREATE OR REPLACE FUNCTION loans_private.loan_payoff_quote (
  p_loan_id uuid,
  p_date    date
)
  RETURNS jsonb
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path TO ''
  AS $function$
declare
  v_loan public.loans;
  v_amount bigint;
begin
  if p_date is null then
    raise exception 'date is required' using errcode = 'BK009', detail = 'date';
  end if;
  select l.* into v_loan from public.loans as l where l.id = p_loan_id;
  if not found or not (v_loan.borrower_id = auth.uid() or private.is_staff()) then
    raise exception 'loan (id=%) not found', p_loan_id using errcode = 'BK005';
  end if;
  if v_loan.status not in ('active', 'overdue') then
    raise exception 'loan (id=%) is %, has no payoff amount', p_loan_id, v_loan.status
      using errcode = 'BK011';
  end if;
  if p_date < v_loan.disbursed_on then
    raise exception 'date (%) is before loan (id=%) was disbursed (%)', p_date, p_loan_id, v_loan.disbursed_on
      using errcode = 'BK009', detail = 'date';
  end if;
  select p.amount into v_amount from loans_private.payoff(p_loan_id, p_date) as p;
  return jsonb_build_object('loan_id', p_loan_id, 'amount', v_amount,
                            'currency', v_loan.currency, 'date', p_date);
end;
$function$;

CREATE OR REPLACE FUNCTION loans_private.product_for_application (
  p_product_id      uuid,
  p_currency        text,
  p_principal_minor bigint,
  p_term_months     integer
)
  RETURNS public.loan_products
  LANGUAGE plpgsql
  STABLE
  SET search_path TO ''
  AS $function$
declare
  v_product public.loan_products;
begin
  if p_product_id is null then
    select p.* into v_product from public.loan_products as p
    where p.currency = p_currency and p.is_default;
    if not found then
      raise exception 'no default loan product for %', p_currency
        using errcode = 'BK005', detail = 'product_id';
    end if;
  else
    select p.* into v_product from public.loan_products as p
    where p.id = p_product_id and p.active;
    if not found then
      raise exception 'loan product (id=%) not found', p_product_id
        using errcode = 'BK005', detail = 'product_id';
    end if;
    if v_product.currency <> p_currency then
      raise exception 'loan product (id=%) lends %, not %', p_product_id, v_product.currency, p_currency
        using errcode = 'BK002';
    end if;
  end if;

  if p_principal_minor not between v_product.min_principal and v_product.max_principal then
    raise exception 'principal (%) is outside loan product (id=%) range % to %',
      private.format_amount(p_principal_minor, p_currency), v_product.id,
      private.format_amount(v_product.min_principal, p_currency),
      private.format_amount(v_product.max_principal, p_currency)
      using errcode = 'BK009', detail = 'principal';
  end if;
  if p_term_months not between v_product.min_term_months and v_product.max_term_months then
    raise exception 'term_months (%) is outside loan product (id=%) range % to %',
      p_term_months, v_product.id, v_product.min_term_months, v_product.max_term_months
      using errcode = 'BK009', detail = 'term_months';
  end if;
  return v_product;
end;
$function$;

CREATE OR REPLACE FUNCTION loans_private.repay_once (
  p_uid             uuid,
  p_loan_id         uuid,
  p_amount          numeric,
  p_from_account_id uuid,
  p_transfer_id     uuid
)
  RETURNS jsonb
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
declare
  v_loan public.loans := loans_private.lock_loan(p_loan_id, p_uid);
  v_date date := private.business_date();
  v_amount bigint;
  v_payoff record;
  v_account public.accounts;
  v_funding uuid;
  v_transfer_id uuid;
  v_interest_transfer_id uuid;
  v_allocation jsonb;
  v_interest bigint;
  v_reply jsonb;
begin
  if v_loan.status not in ('active', 'overdue') then
    raise exception 'loan (id=%) is %, cannot repay', p_loan_id, v_loan.status
      using errcode = 'BK011';
  end if;
  v_amount := private.minor_units(
    p_amount, (select c.exponent from public.currencies as c where c.code = v_loan.currency), 'amount',
    v_loan.currency);

  select a.* into v_account from public.accounts as a
  where a.id = p_from_account_id and a.owner_id = p_uid;
  if not found then
    raise exception 'account (id=%) not found', p_from_account_id using errcode = 'BK005';
  end if;
  if v_account.currency <> v_loan.currency then
    raise exception 'account (id=%) is in %, loan (id=%) in %',
      v_account.id, v_account.currency, p_loan_id, v_loan.currency
      using errcode = 'BK002';
  end if;

  select p.* into v_payoff from loans_private.payoff(p_loan_id, v_date) as p;
  if v_amount > v_payoff.amount then
    raise exception 'amount (%) exceeds the payoff amount (%) of loan (id=%)',
      private.format_amount(v_amount, v_loan.currency),
      private.format_amount(v_payoff.amount, v_loan.currency), p_loan_id
      using errcode = 'BK012', detail = private.format_minor(v_payoff.amount, v_loan.currency);
  end if;

  v_funding := private.system_account(v_loan.currency, 'loan_funding');
  v_transfer_id := loans_private.post_transfer(
    'loan_repayment', v_account.id, v_funding, v_amount, v_loan.currency,
    format('Repayment of loan %s', v_loan.id), p_transfer_id
  );

  if v_amount = v_payoff.amount and v_payoff.in_progress is not null then
    perform loans_private.drop_unaccrued_interest(
      p_loan_id, v_payoff.in_progress, v_payoff.accrued, v_date);
  end if;
  v_allocation := loans_private.allocate_repayment(
    v_loan, v_amount, v_date, v_payoff.in_progress, v_payoff.accrued);

  -- The interest part is the bank's income, not a return of lent principal.
  v_interest := (v_allocation ->> 'interest')::bigint;
  if v_interest > 0 then
    v_interest_transfer_id := loans_private.post_transfer(
      'loan_repayment', v_funding,
      private.system_account(v_loan.currency, 'loan_interest_income'),
      v_interest, v_loan.currency, format('Interest of loan %s', v_loan.id)
    );
  end if;

  perform loans_private.settle_loan_status(p_loan_id);

  v_reply := jsonb_build_object(
    'transfer', loans_private.transfer_json(v_transfer_id),
    'allocation', v_allocation,
    'loan', loans_private.loan_json(p_loan_id)
  );
  insert into loans_private.loan_repayments
    (transfer_id, loan_id, interest_transfer_id, amount, interest, principal, reply)
  values
    (v_transfer_id, p_loan_id, v_interest_transfer_id, v_amount, v_interest,
     (v_allocation ->> 'principal')::bigint, v_reply);
  return v_reply;
end;
$function$;

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
    when p_kind = 'withdrawal' and p_account.balance::numeric - p_amount_minor < -p_account.overdraft_limit then
      array['BK001', format('account (id=%s) has insufficient funds: %s available, %s requested',
             p_account.id, private.format_amount(p_account.balance + p_account.overdraft_limit, p_currency),
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

CREATE OR REPLACE FUNCTION private.format_amount (
  p_minor    numeric,
  p_currency text
)
  RETURNS text
  LANGUAGE sql
  STABLE
  SET search_path TO ''
  AS $function$
  select round(p_minor / 10::numeric ^ c.exponent, c.exponent)::text || ' ' || c.code
    from public.currencies as c
   where c.code = p_currency
$function$;

CREATE OR REPLACE FUNCTION private.format_minor (
  p_minor    numeric,
  p_currency text
)
  RETURNS text
  LANGUAGE sql
  STABLE
  SET search_path TO ''
  AS $function$
  select round(p_minor / 10::numeric ^ c.exponent, c.exponent)::text
    from public.currencies as c
   where c.code = p_currency
$function$;

CREATE OR REPLACE FUNCTION private.guard_account_delete()
  RETURNS TRIGGER
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
begin
  if exists (select from public.entries where account_id = old.id)
     or exists (select from public.transfers where from_account_id = old.id or to_account_id = old.id)
     or exists (select from public.pending_credits where account_id = old.id)
     or exists (select from public.loans where account_id = old.id) then
    raise exception using
      errcode = 'BK011',
      message = format('account (id=%s) is part of the ledger''s history and cannot be deleted; '
                       'close it instead (update public.accounts set status = ''closed'')', old.id);
  end if;
  return old;
end;
$function$;

CREATE OR REPLACE FUNCTION private.guard_account_update()
  RETURNS TRIGGER
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
begin
  if (new.balance, new.version) is distinct from (old.balance, old.version) then
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

CREATE OR REPLACE FUNCTION private.minor_units (
  p_amount    numeric,
  p_exponent  smallint,
  p_parameter text     DEFAULT 'p_amount'::text,
  p_currency  text     DEFAULT NULL::text
)
  RETURNS bigint
  LANGUAGE plpgsql
  IMMUTABLE
  SET search_path TO ''
  AS $function$
declare
  v_minor numeric := p_amount * (10::numeric ^ p_exponent);
  v_name text := regexp_replace(p_parameter, '^p_', '');
begin
  if p_amount is null then
    perform private.raise_invalid(p_parameter, format('%s is required', v_name));
  end if;
  if p_amount <= 0 then
    perform private.raise_invalid(p_parameter,
      format('%s (%s) must be greater than zero', v_name, p_amount));
  end if;
  if v_minor <> trunc(v_minor) then
    perform private.raise_invalid(p_parameter,
      format('%s (%s) has more decimals than %s allows (%s)', v_name, p_amount,
             coalesce(p_currency, 'its currency'),
             case when p_exponent = 0 then 'none' else format('at most %s', p_exponent) end));
  end if;
  if v_minor > 9223372036854775807 then
    perform private.raise_invalid(p_parameter, format('%s (%s) is too large', v_name, p_amount));
  end if;
  return v_minor::bigint;
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
  v_exponent smallint;
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
    when p_from.balance - p_amount_minor < -p_from.overdraft_limit then
      array['BK001', format('account (id=%s) has insufficient funds: %s available, %s requested',
             p_from.id, private.format_amount(p_from.balance + p_from.overdraft_limit, p_currency.code),
             private.format_amount(p_amount_minor, p_currency.code))]
  end;
end;
$function$;

REVOKE ALL ON FUNCTION "loans_private"."allocate_repayment"(public.loans, bigint, date, integer, bigint) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "loans_private"."allocate_repayment"(public.loans, bigint, date, integer, bigint) TO "ledger_owner";

REVOKE ALL ON FUNCTION "loans_private"."allocate_repayment"(public.loans, bigint, date, integer, bigint) FROM "postgres";

GRANT EXECUTE ON FUNCTION "loans_private"."allocate_repayment"(public.loans, bigint, date, integer, bigint) TO "postgres";

REVOKE ALL ON FUNCTION "private"."check_account_can_close"(public.accounts) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."check_account_can_close"(public.accounts) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."check_account_can_close"(public.accounts) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."check_account_can_close"(public.accounts) TO "postgres";

REVOKE ALL ON FUNCTION "private"."format_amount"(numeric, text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."format_amount"(numeric, text) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."format_amount"(numeric, text) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."format_amount"(numeric, text) TO "postgres";

REVOKE ALL ON FUNCTION "private"."format_minor"(numeric, text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."format_minor"(numeric, text) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."format_minor"(numeric, text) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."format_minor"(numeric, text) TO "postgres";

REVOKE ALL ON FUNCTION "private"."minor_units"(numeric, smallint, text, text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."minor_units"(numeric, smallint, text, text) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."minor_units"(numeric, smallint, text, text) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."minor_units"(numeric, smallint, text, text) TO "postgres";
