SET local check_function_bodies = off;

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

  -- 3. the current installment's interest as far as it is owed, then its principal.
  select c.number, c.interest_owed into v_current, v_current_accrued
    from loans_private.current_installment(p_loan.id, p_date, p_running, p_running_accrued) as c;
  v_current_interest := loans_private.pay_installments(
    p_loan.id, array[v_current], 'interest', least(v_left, coalesce(v_current_accrued, 0)));
  v_left := v_left - v_current_interest;
  v_current_principal := loans_private.pay_installments(p_loan.id, array[v_current], 'principal', v_left);
  v_left := v_left - v_current_principal;

  -- 4. and 5. prepayment of principal, from the last installment backwards.
  v_prepaid := loans_private.prepay_principal(p_loan, p_date, v_current, v_left);
  v_left := v_left - v_prepaid;

  if v_left <> 0 then
    -- The payoff check before this makes it unreachable; refuse rather than
    -- lose money if that ever changes.
    raise exception 'repayment of loan (id=%) left % minor units unallocated', p_loan.id, v_left;
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

CREATE OR REPLACE FUNCTION loans_private.check_application (
  p_principal   numeric,
  p_currency    text,
  p_term_months integer,
  p_purpose     text
)
  RETURNS bigint
  LANGUAGE plpgsql
  STABLE
  SET search_path TO ''
  AS $function$
declare
  v_exponent smallint;
  v_principal bigint;
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
  return v_principal;
end;
$function$;

CREATE OR REPLACE FUNCTION loans_private.current_installment (
  p_loan_id         uuid,
  p_date            date,
  p_running         integer,
  p_running_accrued bigint,
  OUT               number integer,
  OUT               interest_owed bigint
)
  RETURNS SETOF record
  LANGUAGE sql
  STABLE
  SET search_path TO ''
  AS $function$
  select i.number,
         case when i.due_date <= p_date then i.interest_due - i.interest_paid
              when i.number = p_running then greatest(p_running_accrued - i.interest_paid, 0)
              else 0 end
  from public.loan_installments as i
  where i.loan_id = p_loan_id and i.status = 'pending' and i.due_date >= p_date
    and (i.principal_paid < i.principal_due or i.interest_paid < i.interest_due)
  order by i.number
  limit 1
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
  v_principal bigint := loans_private.check_application(
    p_principal, p_currency, p_term_months, p_purpose);
  v_loan_id uuid;
begin

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

CREATE OR REPLACE FUNCTION loans_private.prepay_principal (
  p_loan    public.loans,
  p_date    date,
  p_current integer,
  p_amount  bigint
)
  RETURNS bigint
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
declare
  v_prepaid bigint := loans_private.pay_installments(p_loan.id, array(
    select i.number from public.loan_installments as i
    where i.loan_id = p_loan.id and i.principal_paid < i.principal_due
    order by i.number desc), 'principal', p_amount);
begin
  if v_prepaid > 0 then
    perform loans_private.reprice_after_prepayment(p_loan, p_date, p_current);
  end if;
  return v_prepaid;
end;
$function$;

CREATE OR REPLACE FUNCTION private.check_cash_request (
  p_account_id      uuid,
  p_amount          numeric,
  p_currency        text,
  p_reference       text,
  p_idempotency_key text
)
  RETURNS bigint
  LANGUAGE plpgsql
  STABLE
  SET search_path TO ''
  AS $function$
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

REVOKE ALL ON FUNCTION "loans_private"."check_application"(numeric, text, integer, text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "loans_private"."check_application"(numeric, text, integer, text) TO "ledger_owner";

REVOKE ALL ON FUNCTION "loans_private"."check_application"(numeric, text, integer, text) FROM "postgres";

GRANT EXECUTE ON FUNCTION "loans_private"."check_application"(numeric, text, integer, text) TO "postgres";

REVOKE ALL ON FUNCTION "loans_private"."current_installment"(uuid, date, integer, bigint) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "loans_private"."current_installment"(uuid, date, integer, bigint) TO "ledger_owner";

REVOKE ALL ON FUNCTION "loans_private"."current_installment"(uuid, date, integer, bigint) FROM "postgres";

GRANT EXECUTE ON FUNCTION "loans_private"."current_installment"(uuid, date, integer, bigint) TO "postgres";

REVOKE ALL ON FUNCTION "loans_private"."prepay_principal"(public.loans, date, integer, bigint) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "loans_private"."prepay_principal"(public.loans, date, integer, bigint) TO "ledger_owner";

REVOKE ALL ON FUNCTION "loans_private"."prepay_principal"(public.loans, date, integer, bigint) FROM "postgres";

GRANT EXECUTE ON FUNCTION "loans_private"."prepay_principal"(public.loans, date, integer, bigint) TO "postgres";

REVOKE ALL ON FUNCTION "private"."check_cash_request"(uuid, numeric, text, text, text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."check_cash_request"(uuid, numeric, text, text, text) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."check_cash_request"(uuid, numeric, text, text, text) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."check_cash_request"(uuid, numeric, text, text, text) TO "postgres";
