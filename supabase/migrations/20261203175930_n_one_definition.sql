SET local check_function_bodies = off;

DROP TRIGGER "loan_status_transitions_are_fixed" ON "loans_private"."loan_status_transitions";

DROP TRIGGER "loan_installments_guard" ON "public"."loan_installments";

DROP FUNCTION "loans_private"."guard_loan_installments"();

DROP FUNCTION "loans_private"."refuse_transition_edits"();

DROP FUNCTION "loans_private"."repay_once"(uuid, uuid, numeric, uuid, uuid);

DROP FUNCTION "private"."http_status"(text);

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

CREATE OR REPLACE FUNCTION loans_private.loan_repay (
  p_loan_id         uuid,
  p_amount          numeric,
  p_from_account_id uuid,
  p_idempotency_key text
)
  RETURNS jsonb
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path TO ''
  AS $function$
declare
  v_uid uuid := private.require_user('loan_repay');
  -- The canonical request: another RPC's request never hashes the same.
  v_hash bytea := sha256(convert_to(jsonb_build_object(
    'rpc', 'loan_repay', 'loan_id', p_loan_id, 'amount', trim_scale(p_amount),
    'from_account_id', p_from_account_id)::text, 'UTF8'));
  v_transfer_id uuid := gen_random_uuid();
  v_record public.idempotency_records;
begin
  perform private.require_idempotency_key(p_idempotency_key);

  -- The ledger's key claim: a concurrent duplicate waits here until the first
  -- commits, then finds its record.
  if not private.claim_idempotency_key(v_uid, p_idempotency_key, v_hash, v_transfer_id) then
    select r.* into v_record from public.idempotency_records as r
    where r.caller_id = v_uid and r.key = p_idempotency_key;
    if v_record.request_hash <> v_hash or v_record.transfer_id is null then
      -- A different request (BK006, raised) or a stored refusal, as the ledger replays them.
      return private.replay_idempotency_key(v_uid, p_idempotency_key, v_hash);
    end if;
    return (select r.reply from loans_private.loan_repayments as r
             where r.transfer_id = v_record.transfer_id) || '{"replayed": true}'::jsonb;
  end if;

  -- The per-user money-movement rate limit transfers use; raised (BK008),
  -- so a rate-limited repayment rolls back its claim and never happened.
  perform private.count_money_movement(v_uid, coalesce(
    (select l.currency from public.loans as l where l.id = p_loan_id and l.borrower_id = v_uid),
    (select a.currency from public.accounts as a
      where a.id = p_from_account_id and a.owner_id = v_uid)));

  return loans_private.repay(
    v_uid, p_loan_id, p_amount, p_from_account_id, p_idempotency_key, v_transfer_id);
end;
$function$;

CREATE OR REPLACE FUNCTION loans_private.lock_repayment_accounts (
  p_uid        uuid,
  p_account_id uuid,
  p_funding_id uuid,
  OUT          account public.accounts,
  OUT          funding public.accounts
)
  RETURNS record
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
declare
  v_row public.accounts;
begin
  for v_row in
    select a.* from public.accounts as a
     where a.id in (p_account_id, p_funding_id)
       and (a.id = p_funding_id or a.owner_id = p_uid)
     order by a.id
       for no key update
  loop
    if v_row.id = p_funding_id then
      funding := v_row;
    elsif v_row.deferred_credits then
      account := private.settle_account(v_row);
    else
      account := v_row;
    end if;
  end loop;
end;
$function$;

CREATE OR REPLACE FUNCTION loans_private.post_repayment (
  p_loan            public.loans,
  p_account         public.accounts,
  p_funding         public.accounts,
  p_amount          bigint,
  p_payoff          bigint,
  p_running         integer,
  p_running_accrued bigint,
  p_date            date,
  p_transfer_id     uuid
)
  RETURNS jsonb
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
declare
  v_allocation jsonb;
  v_interest bigint;
  v_interest_transfer_id uuid;
  v_reply jsonb;
begin
  -- The loans' posting path checks the accounts again under the locks this
  -- transaction already holds: a rule it has that the refusal lacks raises.
  perform loans_private.post_transfer(
    'loan_repayment', p_account.id, p_funding.id, p_amount, p_loan.currency,
    format('Repayment of loan %s', p_loan.id), p_transfer_id);

  if p_amount = p_payoff and p_running is not null then
    perform loans_private.drop_unaccrued_interest(p_loan.id, p_running, p_running_accrued, p_date);
  end if;
  v_allocation := loans_private.allocate_repayment(
    p_loan, p_amount, p_date, p_running, p_running_accrued);

  -- The interest part is the bank's income, not a return of lent principal.
  v_interest := (v_allocation ->> 'interest')::bigint;
  if v_interest > 0 then
    v_interest_transfer_id := loans_private.post_transfer(
      'loan_repayment', p_funding.id,
      private.system_account(p_loan.currency, 'loan_interest_income'),
      v_interest, p_loan.currency, format('Interest of loan %s', p_loan.id)
    );
  end if;

  perform loans_private.settle_loan_status(p_loan.id);

  v_reply := jsonb_build_object(
    'transfer', loans_private.transfer_json(p_transfer_id),
    'allocation', v_allocation,
    'loan', loans_private.loan_json(p_loan.id)
  );
  insert into loans_private.loan_repayments
    (transfer_id, loan_id, interest_transfer_id, amount, interest, principal, reply)
  values
    (p_transfer_id, p_loan.id, v_interest_transfer_id, p_amount, v_interest,
     (v_allocation ->> 'principal')::bigint, v_reply);
  return v_reply;
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

CREATE OR REPLACE FUNCTION loans_private.repay (
  p_uid             uuid,
  p_loan_id         uuid,
  p_amount          numeric,
  p_from_account_id uuid,
  p_idempotency_key text,
  p_transfer_id     uuid
)
  RETURNS jsonb
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
declare
  v_loan public.loans;
  v_date date := private.business_date();
  v_amount bigint;
  v_accounts record;
  v_payoff record;
  v_refusal text[];
begin
  select l.* into v_loan from public.loans as l where l.id = p_loan_id for update;
  if v_loan.borrower_id is distinct from p_uid then
    v_loan := null;
  end if;
  -- The loan's own rules first: the amount's minor units need its currency.
  v_refusal := loans_private.repayment_refusal(
    p_loan_id, v_loan, p_from_account_id, null, null, null, null);
  if v_refusal is null then
    v_amount := private.minor_units(
      p_amount, (select c.exponent from public.currencies as c where c.code = v_loan.currency),
      'amount', v_loan.currency);
    select * into v_accounts from loans_private.lock_repayment_accounts(
      p_uid, p_from_account_id, private.system_account(v_loan.currency, 'loan_funding'));
    select p.* into v_payoff from loans_private.payoff(p_loan_id, v_date) as p;
    v_refusal := loans_private.repayment_refusal(
      p_loan_id, v_loan, p_from_account_id, v_accounts.account, v_accounts.funding, v_amount,
      v_payoff.amount);
  end if;
  if v_refusal is not null then
    return private.refuse(p_uid, p_idempotency_key, v_refusal[1], v_refusal[2], v_refusal[3]);
  end if;
  return loans_private.post_repayment(
    v_loan, v_accounts.account, v_accounts.funding, v_amount, v_payoff.amount,
    v_payoff.in_progress, v_payoff.accrued, v_date, p_transfer_id
  ) || '{"replayed": false}'::jsonb;
end;
$function$;

CREATE OR REPLACE FUNCTION loans_private.repayment_refusal (
  p_loan_id      uuid,
  p_loan         public.loans,
  p_account_id   uuid,
  p_account      public.accounts,
  p_funding      public.accounts,
  p_amount_minor bigint,
  p_payoff_minor bigint
)
  RETURNS text[]
  LANGUAGE plpgsql
  STABLE
  SET search_path TO ''
  AS $function$
begin
  return case
    when p_loan.id is null then
      array['BK005', format('loan (id=%s) not found', p_loan_id)]
    when p_loan.status not in ('active', 'overdue') then
      array['BK011', format('loan (id=%s) is %s, cannot repay', p_loan_id, p_loan.status)]
    when p_amount_minor is null then
      null
    when p_account.id is null then
      array['BK005', format('account (id=%s) not found', p_account_id)]
    when p_account.currency <> p_loan.currency then
      array['BK002', format('account (id=%s) is in %s, loan (id=%s) in %s',
             p_account.id, p_account.currency, p_loan_id, p_loan.currency)]
    when p_amount_minor > p_payoff_minor then
      array['BK012', format('amount (%s) exceeds the payoff amount (%s) of loan (id=%s)',
             private.format_amount(p_amount_minor, p_loan.currency),
             private.format_amount(p_payoff_minor, p_loan.currency), p_loan_id),
            private.format_minor(p_payoff_minor, p_loan.currency)]
    when p_account.status <> 'active' then
      array['BK004', format('account (id=%s) is %s', p_account.id, p_account.status)]
    when p_funding.status <> 'active' then
      array['BK004', format('account (id=%s) is %s', p_funding.id, p_funding.status)]
    when p_account.balance - p_amount_minor < -p_account.overdraft_limit then
      array['BK001', format('account (id=%s) has insufficient funds', p_account.id)]
  end;
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

CREATE OR REPLACE FUNCTION private.refuse (
  p_caller_id uuid,
  p_key       text,
  p_code      text,
  p_message   text,
  p_details   text DEFAULT NULL::text
)
  RETURNS jsonb
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
declare
  v_error jsonb := private.error_object(p_code, p_message, p_details);
  v_status smallint;
begin
  select e.http_status into strict v_status from private.error_statuses as e
   where e.sqlstate = p_code;
  update public.idempotency_records
     set http_status = v_status, transfer_id = null, result = v_error
   where caller_id = p_caller_id and key = p_key;
  perform set_config('response.status', v_status::text, true);
  return v_error || '{"replayed": false}'::jsonb;
end;
$function$;

CREATE VIEW "private"."error_statuses" AS  SELECT s.sqlstate,
    s.code,
    (s.http_status)::smallint AS http_status
   FROM ( VALUES ('BK010'::text,'forbidden'::text,403), ('BK005'::text,'not_found'::text,404), ('BK004'::text,'account_inactive'::text,409), ('BK006'::text,'idempotency_key_reused'::text,409), ('BK011'::text,'invalid_state'::text,409), ('BK009'::text,'validation_failed'::text,422), ('BK001'::text,'insufficient_funds'::text,422), ('BK002'::text,'currency_mismatch'::text,422), ('BK003'::text,'same_account'::text,422), ('BK007'::text,'limit_exceeded'::text,422), ('BK012'::text,'amount_exceeds_payoff'::text,422), ('BK008'::text,'rate_limited'::text,429)) s(sqlstate, code, http_status);

CREATE TRIGGER loan_status_transitions_are_fixed
  BEFORE INSERT OR DELETE OR UPDATE OR TRUNCATE ON loans_private.loan_status_transitions
  FOR EACH STATEMENT
  EXECUTE FUNCTION private.refuse_change('loan status transitions are fixed by migrations, not edited');

CREATE TRIGGER loan_installments_come_from_loan_functions
  BEFORE INSERT OR DELETE OR UPDATE ON public.loan_installments
  FOR EACH ROW
  WHEN ((CURRENT_USER <> 'ledger_owner'::name))
  EXECUTE FUNCTION private.refuse_change('installments change only through the loan functions');

REVOKE ALL ON FUNCTION "loans_private"."check_application"(numeric, text, integer, text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "loans_private"."check_application"(numeric, text, integer, text) TO "ledger_owner";

REVOKE ALL ON FUNCTION "loans_private"."check_application"(numeric, text, integer, text) FROM "postgres";

GRANT EXECUTE ON FUNCTION "loans_private"."check_application"(numeric, text, integer, text) TO "postgres";

REVOKE ALL ON FUNCTION "loans_private"."current_installment"(uuid, date, integer, bigint) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "loans_private"."current_installment"(uuid, date, integer, bigint) TO "ledger_owner";

REVOKE ALL ON FUNCTION "loans_private"."current_installment"(uuid, date, integer, bigint) FROM "postgres";

GRANT EXECUTE ON FUNCTION "loans_private"."current_installment"(uuid, date, integer, bigint) TO "postgres";

REVOKE ALL ON FUNCTION "loans_private"."lock_repayment_accounts"(uuid, uuid, uuid) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "loans_private"."lock_repayment_accounts"(uuid, uuid, uuid) TO "ledger_owner";

REVOKE ALL ON FUNCTION "loans_private"."lock_repayment_accounts"(uuid, uuid, uuid) FROM "postgres";

GRANT EXECUTE ON FUNCTION "loans_private"."lock_repayment_accounts"(uuid, uuid, uuid) TO "postgres";

REVOKE ALL ON FUNCTION "loans_private"."post_repayment"(public.loans, public.accounts, public.accounts, bigint, bigint, integer, bigint, date, uuid) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "loans_private"."post_repayment"(public.loans, public.accounts, public.accounts, bigint, bigint, integer, bigint, date, uuid) TO "ledger_owner";

REVOKE ALL ON FUNCTION "loans_private"."post_repayment"(public.loans, public.accounts, public.accounts, bigint, bigint, integer, bigint, date, uuid) FROM "postgres";

GRANT EXECUTE ON FUNCTION "loans_private"."post_repayment"(public.loans, public.accounts, public.accounts, bigint, bigint, integer, bigint, date, uuid) TO "postgres";

REVOKE ALL ON FUNCTION "loans_private"."prepay_principal"(public.loans, date, integer, bigint) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "loans_private"."prepay_principal"(public.loans, date, integer, bigint) TO "ledger_owner";

REVOKE ALL ON FUNCTION "loans_private"."prepay_principal"(public.loans, date, integer, bigint) FROM "postgres";

GRANT EXECUTE ON FUNCTION "loans_private"."prepay_principal"(public.loans, date, integer, bigint) TO "postgres";

REVOKE ALL ON FUNCTION "loans_private"."repay"(uuid, uuid, numeric, uuid, text, uuid) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "loans_private"."repay"(uuid, uuid, numeric, uuid, text, uuid) TO "ledger_owner";

REVOKE ALL ON FUNCTION "loans_private"."repay"(uuid, uuid, numeric, uuid, text, uuid) FROM "postgres";

GRANT EXECUTE ON FUNCTION "loans_private"."repay"(uuid, uuid, numeric, uuid, text, uuid) TO "postgres";

REVOKE ALL ON FUNCTION "loans_private"."repayment_refusal"(uuid, public.loans, uuid, public.accounts, public.accounts, bigint, bigint) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "loans_private"."repayment_refusal"(uuid, public.loans, uuid, public.accounts, public.accounts, bigint, bigint) TO "ledger_owner";

REVOKE ALL ON FUNCTION "loans_private"."repayment_refusal"(uuid, public.loans, uuid, public.accounts, public.accounts, bigint, bigint) FROM "postgres";

GRANT EXECUTE ON FUNCTION "loans_private"."repayment_refusal"(uuid, public.loans, uuid, public.accounts, public.accounts, bigint, bigint) TO "postgres";

REVOKE ALL ON FUNCTION "private"."check_cash_request"(uuid, numeric, text, text, text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."check_cash_request"(uuid, numeric, text, text, text) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."check_cash_request"(uuid, numeric, text, text, text) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."check_cash_request"(uuid, numeric, text, text, text) TO "postgres";

GRANT DELETE, INSERT, SELECT, UPDATE ON TABLE "private"."error_statuses" TO "ledger_owner";

REVOKE ALL ON TABLE "private"."error_statuses" FROM "postgres";

GRANT DELETE, INSERT, REFERENCES, SELECT, TRIGGER, TRUNCATE, UPDATE ON TABLE "private"."error_statuses" TO "postgres";
