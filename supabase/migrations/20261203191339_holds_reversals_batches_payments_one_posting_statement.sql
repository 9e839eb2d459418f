SET local check_function_bodies = off;

DROP TRIGGER "loan_status_transitions_are_fixed" ON "loans_private"."loan_status_transitions";

DROP TRIGGER "loan_installments_guard" ON "public"."loan_installments";

ALTER TABLE "public"."transfers"
  DROP CONSTRAINT "transfers_kind_check";

DROP FUNCTION "loans_private"."guard_loan_installments"();

DROP FUNCTION "loans_private"."refuse_transition_edits"();

DROP FUNCTION "loans_private"."repay_once"(uuid, uuid, numeric, uuid, uuid);

DROP FUNCTION "private"."http_status"(text);

CREATE TABLE "public"."holds" (
  "id"                  uuid                     NOT NULL DEFAULT gen_random_uuid(),
  "from_account_id"     uuid                     NOT NULL,
  "to_account_id"       uuid                     NOT NULL,
  "amount"              bigint                   NOT NULL,
  "currency"            text                     NOT NULL,
  "description"         text,
  "status"              text                     NOT NULL DEFAULT 'pending'::text,
  "captured_amount"     bigint                   NOT NULL DEFAULT 0,
  "released_amount"     bigint                   NOT NULL DEFAULT 0,
  "capture_transfer_id" uuid,
  "initiated_by"        uuid,
  "expires_at"          timestamp with time zone NOT NULL,
  "created_at"          timestamp with time zone NOT NULL DEFAULT now(),
  "closed_at"           timestamp with time zone,
  CONSTRAINT "holds_amount_check" CHECK ((amount > 0)),
  CONSTRAINT "holds_between_two_accounts" CHECK ((from_account_id <> to_account_id)),
  CONSTRAINT "holds_capture_transfer_id_key" UNIQUE (capture_transfer_id),
  CONSTRAINT "holds_captured_amount_check" CHECK ((captured_amount >= 0)),
  CONSTRAINT "holds_closed_account_for_their_amount" CHECK ((
CASE
    WHEN (status = 'pending'::text) THEN ((captured_amount = 0) AND (released_amount = 0) AND (closed_at IS NULL))
    ELSE (((captured_amount + released_amount) = amount) AND (closed_at IS NOT NULL))
END AND ((status = 'captured'::text) = (capture_transfer_id IS NOT NULL)) AND ((status = 'captured'::text) = (captured_amount > 0)))),
  CONSTRAINT "holds_description_check" CHECK ((char_length(description) <= 280)),
  CONSTRAINT "holds_pkey" PRIMARY KEY (id),
  CONSTRAINT "holds_released_amount_check" CHECK ((released_amount >= 0)),
  CONSTRAINT "holds_status_check" CHECK ((status = ANY (ARRAY['pending'::text, 'captured'::text, 'voided'::text, 'expired'::text])))
);

ALTER TABLE "public"."holds"
  ENABLE ROW LEVEL SECURITY;

REVOKE ALL ON TABLE "public"."holds" FROM "anon";

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

CREATE TABLE "public"."transfer_batch_items" (
  "transfer_id" uuid     NOT NULL,
  "batch_id"    uuid     NOT NULL,
  "index"       smallint NOT NULL,
  CONSTRAINT "transfer_batch_items_index_check" CHECK (((index >= 0) AND (index <= 99))),
  CONSTRAINT "transfer_batch_items_one_per_index" UNIQUE (batch_id, INDEX),
  CONSTRAINT "transfer_batch_items_pkey" PRIMARY KEY (transfer_id)
);

ALTER TABLE "public"."transfer_batch_items"
  ENABLE ROW LEVEL SECURITY;

REVOKE ALL ON TABLE "public"."transfer_batch_items" FROM "anon";

CREATE TABLE "public"."transfer_batches" (
  "id"           uuid                     NOT NULL,
  "initiated_by" uuid                     NOT NULL,
  "item_count"   smallint                 NOT NULL,
  "created_at"   timestamp with time zone NOT NULL DEFAULT now(),
  CONSTRAINT "transfer_batches_item_count_check" CHECK (((item_count >= 1) AND (item_count <= 100))),
  CONSTRAINT "transfer_batches_pkey" PRIMARY KEY (id)
);

ALTER TABLE "public"."transfer_batches"
  ENABLE ROW LEVEL SECURITY;

REVOKE ALL ON TABLE "public"."transfer_batches" FROM "anon";

CREATE TABLE "public"."transfer_reversals" (
  "reversal_transfer_id" uuid                     NOT NULL,
  "original_transfer_id" uuid                     NOT NULL,
  "amount"               bigint                   NOT NULL,
  "reason"               text,
  "kind"                 text                     NOT NULL,
  "created_at"           timestamp with time zone NOT NULL DEFAULT now(),
  CONSTRAINT "transfer_reversals_amount_check" CHECK ((amount > 0)),
  CONSTRAINT "transfer_reversals_kind_check" CHECK ((kind = ANY (ARRAY['refund'::text, 'reversal'::text]))),
  CONSTRAINT "transfer_reversals_not_of_itself" CHECK ((reversal_transfer_id <> original_transfer_id)),
  CONSTRAINT "transfer_reversals_pkey" PRIMARY KEY (reversal_transfer_id),
  CONSTRAINT "transfer_reversals_reason_check" CHECK ((char_length(reason) <= 280))
);

ALTER TABLE "public"."transfer_reversals"
  ENABLE ROW LEVEL SECURITY;

REVOKE ALL ON TABLE "public"."transfer_reversals" FROM "anon";

ALTER TABLE "public"."accounts"
  ADD COLUMN "held_minor" bigint NOT NULL DEFAULT 0;

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
  -- What holds past their time reserved is spendable again: release it under
  -- the lock just taken, as transfer_funds does, so the refusal reads it.
  if account.held_minor > 0 then
    account := private.release_expired_holds(account);
  end if;
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

CREATE OR REPLACE FUNCTION loans_private.post_transfer (
  p_kind            text,
  p_from_account_id uuid,
  p_to_account_id   uuid,
  p_amount          bigint,
  p_currency        text,
  p_description     text,
  p_transfer_id     uuid   DEFAULT NULL::uuid
)
  RETURNS uuid
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
declare
  v_row public.accounts;
  v_from public.accounts;
  v_to public.accounts;
  v_transfer public.transfers;
begin
  for v_row in
    select a.* from public.accounts as a
    where a.id in (p_from_account_id, p_to_account_id)
    order by a.id
    for no key update
  loop
    if v_row.id = p_from_account_id then
      v_from := v_row;
    else
      v_to := v_row;
    end if;
  end loop;

  if v_from.id is null then
    raise exception 'account (id=%) not found', p_from_account_id using errcode = 'BK005';
  end if;
  if v_to.id is null then
    raise exception 'account (id=%) not found', p_to_account_id using errcode = 'BK005';
  end if;
  if v_from.status <> 'active' then
    raise exception 'account (id=%) is %', v_from.id, v_from.status using errcode = 'BK004';
  end if;
  if v_to.status <> 'active' then
    raise exception 'account (id=%) is %', v_to.id, v_to.status using errcode = 'BK004';
  end if;
  if v_from.currency <> p_currency or v_to.currency <> p_currency then
    raise exception 'accounts (id=%, id=%) are in % and %, the transfer in %',
      v_from.id, v_to.id, v_from.currency, v_to.currency, p_currency
      using errcode = 'BK002';
  end if;
  if v_from.deferred_credits then
    v_from := private.settle_account(v_from);
  end if;
  if v_from.held_minor > 0 then
    v_from := private.release_expired_holds(v_from);  -- 45_holds.sql
  end if;
  if v_from.kind <> 'system'
     and v_from.balance - v_from.held_minor - p_amount < -v_from.overdraft_limit then
    raise exception 'account (id=%) has insufficient funds', v_from.id using errcode = 'BK001';
  end if;

  v_transfer := private.post_transfer(
    coalesce(p_transfer_id, gen_random_uuid()), p_kind, v_from, v_to, p_amount, p_description,
    auth.uid());
  return v_transfer.id;
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
    when p_account.balance - p_account.held_minor - p_amount_minor < -p_account.overdraft_limit then
      array['BK001', format('account (id=%s) has insufficient funds', p_account.id)]
  end;
end;
$function$;

CREATE OR REPLACE FUNCTION private.admin_reverse_transfer (
  p_transfer_id     uuid,
  p_amount          numeric,
  p_reason          text,
  p_idempotency_key text
)
  RETURNS jsonb
  LANGUAGE sql
  SECURITY DEFINER
  SET search_path TO ''
  AS $function$
  select private.reverse_transfer('admin_reverse_transfer', p_transfer_id, p_amount, p_reason,
                                  p_idempotency_key)
$function$;

ALTER FUNCTION "private"."admin_reverse_transfer"(uuid, numeric, text, text) OWNER TO "ledger_owner";

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
  select coalesce(sum(t.amount), 0) into v_refunded
    from public.payment_events as e
    join public.transfers as t on t.id = e.transfer_id
   where e.payment_intent_id = p_payment_intent_id
     and e.event_type = 'charge.refunded' and e.status = 'applied';
  v_reason := private.refund_mismatch(
    v_deposit, p_payment_intent_id, p_refunded_minor, p_currency);
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

CREATE OR REPLACE FUNCTION private.batch_currencies (
  p_currencies public.currencies[],
  p_minors     bigint[],
  OUT          codes text[],
  OUT          currency_rows public.currencies[],
  OUT          counted numeric[]
)
  RETURNS record
  LANGUAGE plpgsql
  IMMUTABLE
  SET search_path TO ''
  AS $function$
declare
  v_c integer;
begin
  select '{}', '{}', '{}' into codes, currency_rows, counted;
  for i in 1 .. cardinality(p_minors) loop
    v_c := array_position(codes, (p_currencies[i]).code);
    if v_c is null then
      codes := codes || (p_currencies[i]).code;
      currency_rows := currency_rows || p_currencies[i];
      counted := counted || 0::numeric;
      v_c := cardinality(codes);
    end if;
    if p_minors[i] <= (p_currencies[i]).max_transfer_minor then
      counted[v_c] := counted[v_c] + p_minors[i];
    end if;
  end loop;
end;
$function$;

CREATE OR REPLACE FUNCTION private.batch_items (
  p_transfers jsonb,
  OUT         from_ids uuid[],
  OUT         to_ids uuid[],
  OUT         amounts numeric[],
  OUT         minors bigint[],
  OUT         codes text[],
  OUT         descriptions text[],
  OUT         currencies public.currencies[],
  OUT         transfer_ids uuid[]
)
  RETURNS record
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
declare
  v_item jsonb;
  v_text text;
  v_currency public.currencies;
begin
  if p_transfers is null or jsonb_typeof(p_transfers) <> 'array'
     or jsonb_array_length(p_transfers) not between 1 and 100 then
    perform private.raise_invalid('p_transfers', 'transfers must be a list of 1 to 100 transfers');
  end if;
  select '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}'
    into from_ids, to_ids, amounts, minors, codes, descriptions, currencies, transfer_ids;
  for i in 0 .. jsonb_array_length(p_transfers) - 1 loop
    v_item := p_transfers -> i;
    if jsonb_typeof(v_item) <> 'object' then
      perform private.raise_invalid_item(i, 'body', 'each transfer must be an object');
    end if;
    foreach v_text in array array['from_account_id', 'to_account_id'] loop
      if jsonb_typeof(v_item -> v_text) is distinct from 'string'
         or (v_item ->> v_text) !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
        perform private.raise_invalid_item(i, v_text, format('%s must be an account id', v_text));
      end if;
    end loop;
    select * into v_currency from public.currencies where code = v_item ->> 'currency';
    if v_currency.code is null then
      perform private.raise_invalid_item(i, 'currency',
        format('currency (%s) is not supported', coalesce(v_item ->> 'currency', 'null')));
    end if;
    v_text := v_item ->> 'amount';
    if coalesce(jsonb_typeof(v_item -> 'amount'), 'missing') not in ('string', 'number')
       or v_text !~ '^[0-9]{1,30}(\.[0-9]{1,30})?$' then
      perform private.raise_invalid_item(i, 'amount', 'amount must be a decimal such as "12.34"');
    end if;
    if jsonb_typeof(v_item -> 'description') not in ('string', 'null')
       or char_length(v_item ->> 'description') > 280 then
      perform private.raise_invalid_item(i, 'description',
        'description must be text of at most 280 characters');
    end if;
    from_ids := from_ids || (v_item ->> 'from_account_id')::uuid;
    to_ids := to_ids || (v_item ->> 'to_account_id')::uuid;
    amounts := amounts || v_text::numeric;
    minors := minors || private.minor_units(
      v_text::numeric, v_currency.exponent, format('p_transfers.%s.amount', i), v_currency.code);
    codes := codes || v_currency.code;
    descriptions := descriptions || (v_item ->> 'description');
    currencies := currencies || v_currency;
    transfer_ids := transfer_ids || gen_random_uuid();
  end loop;
end;
$function$;

CREATE OR REPLACE FUNCTION private.batch_replay (
  p_caller          uuid,
  p_idempotency_key text,
  p_hash            bytea
)
  RETURNS jsonb
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
declare
  v_replay jsonb := private.replay_idempotency_key(p_caller, p_idempotency_key, p_hash);
begin
  if v_replay ? 'id' then
    return private.batch_reply(
      (select i.batch_id from public.transfer_batch_items as i
        where i.transfer_id = (v_replay ->> 'id')::uuid), true);
  end if;
  return v_replay;
end;
$function$;

CREATE OR REPLACE FUNCTION private.batch_reply (
  p_batch_id uuid,
  p_replayed boolean
)
  RETURNS jsonb
  LANGUAGE sql
  STABLE
  SET search_path TO ''
  AS $function$
  select jsonb_build_object(
           'id', b.id, 'created_at', b.created_at, 'replayed', p_replayed,
           'transfers', (select jsonb_agg(to_jsonb(t) order by i.index)
                           from public.transfer_batch_items as i
                           join public.transfers as t on t.id = i.transfer_id
                          where i.batch_id = b.id))
    from public.transfer_batches as b
   where b.id = p_batch_id
$function$;

CREATE OR REPLACE FUNCTION private.capture_hold (
  p_hold_id uuid,
  p_amount  numeric
)
  RETURNS jsonb
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path TO ''
  AS $function$
declare
  v_hold public.holds := private.visible_hold(p_hold_id);
  v_amount bigint;
  v_transfer_id uuid := gen_random_uuid();
  v_row public.accounts;
  v_from public.accounts;
  v_to public.accounts;
  v_to_locked boolean := false;
begin
  if p_amount is not null then
    v_amount := private.minor_units(p_amount, (select c.exponent from public.currencies as c
                                               where c.code = v_hold.currency),
                                    'p_amount', v_hold.currency);
  end if;
  -- Accounts first, in id order, as a transfer locks them; a receiver taking
  -- deferred credits is read, not locked (40_transfers.sql).
  for v_row in
    select * from public.accounts
     where id in (v_hold.from_account_id, v_hold.to_account_id)
       and (id = v_hold.from_account_id or not deferred_credits)
     order by id
       for no key update
  loop
    if v_row.id = v_hold.from_account_id then v_from := v_row; end if;
    if v_row.id = v_hold.to_account_id then v_to := v_row; v_to_locked := true; end if;
  end loop;
  if not v_to_locked then
    select * into v_to from public.accounts where id = v_hold.to_account_id;
  end if;
  v_hold := private.lock_open_hold(p_hold_id);
  v_amount := coalesce(v_amount, v_hold.amount);
  perform private.check_capture(v_hold, v_amount, v_from, v_to);
  if v_from.deferred_credits then
    v_from := private.settle_account(v_from);
  end if;
  v_from := private.release_expired_holds(v_from);

  -- The hold's whole amount leaves held_minor; the capture leaves the balance.
  update public.accounts set held_minor = held_minor - v_hold.amount, updated_at = now()
   where id = v_from.id
  returning * into v_from;
  if v_to_locked then
    perform private.post_transfer(
      v_transfer_id, 'transfer', v_from, v_to, v_amount, v_hold.description, auth.uid());
  else
    perform private.post_transfer_deferred(
      v_transfer_id, 'transfer', v_from, v_to, v_amount, v_hold.description, auth.uid());
  end if;
  update public.holds
     set status = 'captured', captured_amount = v_amount, released_amount = amount - v_amount,
         capture_transfer_id = v_transfer_id, closed_at = now()
   where id = v_hold.id
  returning * into v_hold;
  return private.hold_json(v_hold);
end;
$function$;

ALTER FUNCTION "private"."capture_hold"(uuid, numeric) OWNER TO "ledger_owner";

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
    when p_kind = 'withdrawal'
         and p_account.balance::numeric - p_account.held_minor - p_amount_minor < -p_account.overdraft_limit then
      array['BK001', format('account (id=%s) has insufficient funds: %s available, %s requested',
             p_account.id,
             private.format_amount(p_account.balance - p_account.held_minor + p_account.overdraft_limit,
                                   p_currency),
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
  if p_account.held_minor <> 0 then
    raise exception using
      errcode = 'BK011',
      message = format('account (id=%s) has open holds and cannot be closed; capture or void them '
                       '(public.capture_hold, public.void_hold) or release expired ones '
                       '(public.expire_holds) first', p_account.id);
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

CREATE OR REPLACE FUNCTION private.check_capture (
  p_hold   public.holds,
  p_amount bigint,
  p_from   public.accounts,
  p_to     public.accounts
)
  RETURNS void
  LANGUAGE plpgsql
  STABLE
  SET search_path TO ''
  AS $function$
begin
  if p_amount > p_hold.amount then
    perform private.raise_invalid('p_amount', format('amount (%s) is more than the hold (id=%s) reserves (%s)',
      private.format_amount(p_amount, p_hold.currency), p_hold.id,
      private.format_amount(p_hold.amount, p_hold.currency)));
  end if;
  if p_from.status <> 'active' then
    raise exception using errcode = 'BK004',
      message = format('account (id=%s) is %s', p_from.id, p_from.status), detail = p_from.status;
  end if;
  if p_to.status <> 'active' then
    raise exception using errcode = 'BK004',
      message = format('account (id=%s) is %s', p_to.id, p_to.status), detail = p_to.status;
  end if;
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

CREATE OR REPLACE FUNCTION private.expire_holds()
  RETURNS bigint
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path TO ''
  AS $function$
declare
  v_account public.accounts;
  v_released bigint := 0;
begin
  perform private.require_staff('expire_holds');
  for v_account in
    select a.* from public.accounts as a
     where a.id in (select h.from_account_id from public.holds as h
                     where h.status = 'pending' and h.expires_at <= now())
     order by a.id
       for no key update
  loop
    -- Under the account's lock nobody else places or closes its holds.
    v_released := v_released + (select count(*) from public.holds as h
                                 where h.from_account_id = v_account.id and h.status = 'pending'
                                   and h.expires_at <= now());
    perform private.release_expired_holds(v_account);
  end loop;
  return v_released;
end;
$function$;

ALTER FUNCTION "private"."expire_holds"() OWNER TO "ledger_owner";

CREATE OR REPLACE FUNCTION private.guard_account_delete()
  RETURNS TRIGGER
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
begin
  if exists (select from public.entries where account_id = old.id)
     or exists (select from public.transfers where from_account_id = old.id or to_account_id = old.id)
     or exists (select from public.pending_credits where account_id = old.id)
     or exists (select from public.holds where from_account_id = old.id or to_account_id = old.id)
     or exists (select from public.loans where account_id = old.id) then
    raise exception using
      errcode = 'BK011',
      message = format('account (id=%s) is part of the ledger''s history and cannot be deleted; '
                       'close it instead (update public.accounts set status = ''closed'')', old.id);
  end if;
  return old;
end;
$function$;

CREATE OR REPLACE FUNCTION private.guard_account_insert()
  RETURNS TRIGGER
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
begin
  if new.balance <> 0 or new.version <> 0 or new.held_minor <> 0 then
    raise exception using
      errcode = 'BK011',
      message = 'a new account starts with balance 0, version 0 and nothing held; money arrives '
                'through a transfer';
  end if;
  return new;
end;
$function$;

CREATE OR REPLACE FUNCTION private.guard_account_update()
  RETURNS TRIGGER
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
begin
  if (new.balance, new.version, new.held_minor) is distinct from (old.balance, old.version, old.held_minor) then
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

CREATE OR REPLACE FUNCTION private.hold_json (
  p_hold public.holds
)
  RETURNS jsonb
  LANGUAGE sql
  STABLE
  SET search_path TO ''
  AS $function$
  select to_jsonb(p_hold) - 'initiated_by' || jsonb_build_object('status', public.hold_status(p_hold))
$function$;

CREATE OR REPLACE FUNCTION private.hold_lifetime (
  p_expires_in_seconds integer
)
  RETURNS interval
  LANGUAGE plpgsql
  IMMUTABLE
  SET search_path TO ''
  AS $function$
begin
  if p_expires_in_seconds is null then
    return interval '7 days';
  end if;
  if p_expires_in_seconds not between 1 and 2592000 then
    perform private.raise_invalid('p_expires_in_seconds',
      format('expires_in_seconds (%s) must be between 1 and 2592000 (30 days)', p_expires_in_seconds));
  end if;
  return make_interval(secs => p_expires_in_seconds);
end;
$function$;

CREATE OR REPLACE FUNCTION private.hold_replay (
  p_caller          uuid,
  p_idempotency_key text,
  p_hash            bytea
)
  RETURNS jsonb
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
declare
  v_record public.idempotency_records;
  v_hold public.holds;
begin
  select r.* into v_record from public.idempotency_records as r
   where r.caller_id = p_caller and r.key = p_idempotency_key;
  if v_record.request_hash <> p_hash or v_record.transfer_id is null then
    return private.replay_idempotency_key(p_caller, p_idempotency_key, p_hash);
  end if;
  select h.* into v_hold from public.holds as h where h.id = v_record.transfer_id;
  return private.hold_json(v_hold) || '{"replayed": true}'::jsonb;
end;
$function$;

CREATE OR REPLACE FUNCTION private.lock_batch_accounts (
  p_caller   uuid,
  p_from_ids uuid[],
  p_to_ids   uuid[]
)
  RETURNS uuid[]
  LANGUAGE sql
  SET search_path TO ''
  AS $function$
  select coalesce(array_agg(a.id order by a.id), '{}')
    from (select a.id from public.accounts as a
           where a.id = any (p_from_ids || p_to_ids)
             and ((a.id = any (p_from_ids) and a.owner_id = p_caller)
                  or (a.id = any (p_to_ids) and not a.deferred_credits))
           order by a.id
             for no key update) as a
$function$;

CREATE OR REPLACE FUNCTION private.lock_hold_accounts (
  p_from_account_id uuid,
  p_to_account_id   uuid,
  p_caller          uuid
)
  RETURNS public.accounts[]
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
declare
  v_from public.accounts;
  v_to public.accounts;
begin
  select * into v_from from public.accounts
   where id = p_from_account_id and owner_id = p_caller
     for no key update;
  select * into v_to from public.accounts where id = p_to_account_id;
  if v_from.deferred_credits then
    v_from := private.settle_account(v_from);
  end if;
  if v_from.held_minor > 0 then
    v_from := private.release_expired_holds(v_from);
  end if;
  return array[v_from, v_to];
end;
$function$;

CREATE OR REPLACE FUNCTION private.lock_open_hold (
  p_hold_id uuid
)
  RETURNS public.holds
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
declare
  v_hold public.holds;
begin
  select h.* into v_hold from public.holds as h where h.id = p_hold_id for update;
  if public.hold_status(v_hold) <> 'pending' then
    raise exception using errcode = 'BK011',
      message = format('hold (id=%s) is %s', v_hold.id, public.hold_status(v_hold)),
      detail = public.hold_status(v_hold);
  end if;
  return v_hold;
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

CREATE OR REPLACE FUNCTION private.lock_reversal_accounts (
  p_original public.transfers
)
  RETURNS public.accounts[]
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
declare
  v_row public.accounts;
  v_from public.accounts;
  v_to public.accounts;
begin
  for v_row in
    select * from public.accounts
     where id in (p_original.from_account_id, p_original.to_account_id)
     order by id
       for no key update
  loop
    if v_row.id = p_original.to_account_id then
      if v_row.deferred_credits then
        v_row := private.settle_account(v_row);
      end if;
      if v_row.held_minor > 0 then
        v_row := private.release_expired_holds(v_row);
      end if;
      v_from := v_row;
    else
      v_to := v_row;
    end if;
  end loop;
  return array[v_from, v_to];
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

CREATE OR REPLACE FUNCTION private.place_hold (
  p_from_account_id    uuid,
  p_to_account_id      uuid,
  p_amount             numeric,
  p_currency           text,
  p_idempotency_key    text,
  p_description        text,
  p_expires_in_seconds integer
)
  RETURNS jsonb
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path TO ''
  AS $function$
declare
  v_caller uuid := private.require_user('place_hold');
  v_currency public.currencies;
  v_amount bigint;
  v_counted bigint;
  v_lifetime interval;
  v_hash bytea;
  v_hold_id uuid := gen_random_uuid();
  v_limits public.transfer_limits;
  v_accounts public.accounts[];
  v_from public.accounts;
  v_to public.accounts;
  v_hold public.holds;
  v_refusal text[];
begin
  select * into v_currency from public.currencies where code = p_currency;
  if v_currency.code is null then
    perform private.raise_invalid('p_currency', format('currency (%s) is not supported', p_currency));
  end if;
  v_amount := private.minor_units(p_amount, v_currency.exponent, 'p_amount', v_currency.code);
  perform private.check_transfer_request(
    p_from_account_id, p_to_account_id, p_idempotency_key, p_description);
  v_lifetime := private.hold_lifetime(p_expires_in_seconds);

  v_hash := sha256(convert_to(jsonb_build_array(
    'place_hold', p_from_account_id, p_to_account_id, v_amount, p_currency, p_description,
    p_expires_in_seconds
  )::text, 'UTF8'));
  if not private.claim_idempotency_key(v_caller, p_idempotency_key, v_hash, v_hold_id) then
    return private.hold_replay(v_caller, p_idempotency_key, v_hash);
  end if;

  v_counted := case when v_amount > v_currency.max_transfer_minor then 0 else v_amount end;
  v_limits := private.count_money_movement(v_caller, p_currency, v_counted);

  v_accounts := private.lock_hold_accounts(p_from_account_id, p_to_account_id, v_caller);
  v_from := v_accounts[1];
  v_to := v_accounts[2];

  v_refusal := private.transfer_refusal(
    p_from_account_id, p_to_account_id, v_from, v_to, p_amount, v_amount, v_currency, v_limits);
  if v_refusal is not null then
    update public.transfer_limits
       set outgoing_minor = greatest(outgoing_minor - v_counted, 0)
     where user_id = v_caller and currency = p_currency;
    return private.refuse(v_caller, p_idempotency_key, v_refusal[1], v_refusal[2], v_refusal[3]);
  end if;

  v_hold := private.reserve_hold(
    v_hold_id, v_from.id, v_to.id, v_amount, p_currency, p_description, v_caller, v_lifetime);
  return private.hold_json(v_hold) || '{"replayed": false}'::jsonb;
end;
$function$;

ALTER FUNCTION "private"."place_hold"(uuid, uuid, numeric, text, text, text, integer) OWNER TO "ledger_owner";

CREATE OR REPLACE FUNCTION private.post_batch_items (
  p_caller         uuid,
  p_from_ids       uuid[],
  p_to_ids         uuid[],
  p_amounts        numeric[],
  p_minors         bigint[],
  p_codes          text[],
  p_descriptions   text[],
  p_transfer_ids   uuid[],
  p_currency_codes text[],
  p_currency_rows  public.currencies[],
  p_limit_rows     public.transfer_limits[],
  p_locked         uuid[]
)
  RETURNS jsonb
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
declare
  v_from public.accounts;
  v_to public.accounts;
  v_c integer;
  v_refusal text[];
  v_index integer;
  v_code text;
  v_detail text;
begin
  for i in 1 .. cardinality(p_from_ids) loop
    select * into v_from from public.accounts
     where id = p_from_ids[i] and id = any (p_locked) and owner_id = p_caller;
    if v_from.deferred_credits then
      v_from := private.settle_account(v_from);
    end if;
    if v_from.held_minor > 0 then  -- what expired holds reserved is spendable again
      v_from := private.release_expired_holds(v_from);
    end if;
    select * into v_to from public.accounts where id = p_to_ids[i];
    v_c := array_position(p_currency_codes, p_codes[i]);
    v_refusal := private.transfer_refusal(
      p_from_ids[i], p_to_ids[i], v_from, v_to, p_amounts[i], p_minors[i],
      p_currency_rows[v_c], p_limit_rows[v_c]);
    if v_refusal is not null then
      v_index := i - 1;
      raise exception using errcode = v_refusal[1], message = v_refusal[2],
        detail = coalesce(v_refusal[3], '');
    end if;
    if v_to.id = any (p_locked) then
      perform private.post_transfer(p_transfer_ids[i], 'transfer', v_from, v_to, p_minors[i],
                                    p_descriptions[i], p_caller);
    else
      perform private.post_transfer_deferred(p_transfer_ids[i], 'transfer', v_from, v_to,
                                             p_minors[i], p_descriptions[i], p_caller);
    end if;
  end loop;
  return null;
exception when sqlstate 'BK001' or sqlstate 'BK002' or sqlstate 'BK003' or sqlstate 'BK004'
                or sqlstate 'BK005' or sqlstate 'BK007' then
  if v_index is null then
    raise;  -- not one of the refusals above: never swallowed
  end if;
  get stacked diagnostics v_code = returned_sqlstate, v_detail = pg_exception_detail;
  return jsonb_build_object(
    'code', v_code, 'message', format('transfers[%s]: %s', v_index, sqlerrm),
    'details', jsonb_build_object('index', v_index, 'details', nullif(v_detail, '')));
end;
$function$;

CREATE OR REPLACE FUNCTION private.post_reversal (
  p_staff       boolean,
  p_transfer_id uuid,
  p_original_id uuid,
  p_from        public.accounts,
  p_to          public.accounts,
  p_amount      bigint,
  p_reason      text
)
  RETURNS jsonb
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
declare
  v_kind text := case when p_staff then 'reversal' else 'refund' end;
  v_transfer public.transfers;
begin
  v_transfer := private.post_transfer(
    p_transfer_id, 'reversal', p_from, p_to, p_amount,
    coalesce(p_reason, format('%s of transfer %s', v_kind, p_original_id)), auth.uid());
  insert into public.transfer_reversals
    (reversal_transfer_id, original_transfer_id, amount, reason, kind)
  values
    (p_transfer_id, p_original_id, p_amount, p_reason, v_kind);
  return to_jsonb(v_transfer)
    || jsonb_build_object('original_transfer_id', p_original_id, 'replayed', false);
end;
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

CREATE OR REPLACE FUNCTION private.raise_invalid_item (
  p_index   integer,
  p_field   text,
  p_message text
)
  RETURNS void
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
begin
  perform private.raise_invalid(format('p_transfers.%s.%s', p_index, p_field),
                                format('transfers[%s]: %s', p_index, p_message));
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

CREATE OR REPLACE FUNCTION private.refund_mismatch (
  p_deposit           public.payment_events,
  p_payment_intent_id text,
  p_refunded_minor    bigint,
  p_currency          text
)
  RETURNS text
  LANGUAGE plpgsql
  STABLE
  SET search_path TO ''
  AS $function$
declare
  v_deposited bigint;
begin
  select t.amount into v_deposited from public.transfers as t where t.id = p_deposit.transfer_id;
  return case
    when p_currency <> p_deposit.currency then
      format('refund in %s of payment (%s) deposited in %s', p_currency, p_payment_intent_id,
             p_deposit.currency)
    when p_refunded_minor > v_deposited then
      format('refunds (%s) of payment (%s) exceed its deposit (%s)',
             private.format_amount(p_refunded_minor, p_currency), p_payment_intent_id,
             private.format_amount(v_deposited, p_currency))
  end;
end;
$function$;

CREATE OR REPLACE FUNCTION private.refund_transfer (
  p_transfer_id     uuid,
  p_amount          numeric,
  p_reason          text,
  p_idempotency_key text
)
  RETURNS jsonb
  LANGUAGE sql
  SECURITY DEFINER
  SET search_path TO ''
  AS $function$
  select private.reverse_transfer('refund_transfer', p_transfer_id, p_amount, p_reason,
                                  p_idempotency_key)
$function$;

ALTER FUNCTION "private"."refund_transfer"(uuid, numeric, text, text) OWNER TO "ledger_owner";

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

CREATE OR REPLACE FUNCTION private.release_expired_holds (
  p_account public.accounts
)
  RETURNS public.accounts
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
declare
  v_released bigint;
  v_account public.accounts := p_account;
begin
  with expired as (
    update public.holds
       set status = 'expired', released_amount = amount, closed_at = now()
     where from_account_id = p_account.id and status = 'pending' and expires_at <= now()
    returning amount
  )
  select sum(amount) into v_released from expired;
  if v_released is not null then
    update public.accounts set held_minor = held_minor - v_released, updated_at = now()
     where id = p_account.id
    returning * into v_account;
  end if;
  return v_account;
end;
$function$;

CREATE OR REPLACE FUNCTION private.reserve_hold (
  p_hold_id         uuid,
  p_from_account_id uuid,
  p_to_account_id   uuid,
  p_amount          bigint,
  p_currency        text,
  p_description     text,
  p_caller          uuid,
  p_lifetime        interval
)
  RETURNS public.holds
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
declare
  v_hold public.holds;
begin
  with reserved as (
    update public.accounts set held_minor = held_minor + p_amount, updated_at = now()
     where id = p_from_account_id
  )
  insert into public.holds
    (id, from_account_id, to_account_id, amount, currency, description, initiated_by, expires_at)
  values
    (p_hold_id, p_from_account_id, p_to_account_id, p_amount, p_currency, p_description, p_caller,
     now() + p_lifetime)
  returning * into v_hold;
  return v_hold;
end;
$function$;

CREATE OR REPLACE FUNCTION private.reversal_original (
  p_staff           boolean,
  p_caller          uuid,
  p_transfer_id     uuid,
  p_reason          text,
  p_idempotency_key text
)
  RETURNS public.transfers
  LANGUAGE plpgsql
  STABLE
  SET search_path TO ''
  AS $function$
declare
  v_original public.transfers;
begin
  perform private.require_idempotency_key(p_idempotency_key);
  if p_transfer_id is null then
    perform private.raise_invalid('p_transfer_id', 'transfer is required');
  end if;
  if char_length(p_reason) not between 1 and 280 then
    perform private.raise_invalid('p_reason', 'reason must be 1 to 280 characters');
  end if;
  select t.* into v_original from public.transfers as t
   where t.id = p_transfer_id
     and (p_staff or t.to_account_id in (select a.id from public.accounts as a
                                          where a.owner_id = p_caller));
  if v_original.id is null then
    raise exception using errcode = 'BK005',
      message = format('transfer (id=%s) not found', p_transfer_id);
  end if;
  return v_original;
end;
$function$;

CREATE OR REPLACE FUNCTION private.reversal_refusal (
  p_staff          boolean,
  p_original       public.transfers,
  p_from           public.accounts,
  p_to             public.accounts,
  p_amount_minor   bigint,
  p_reversed_minor bigint
)
  RETURNS text[]
  LANGUAGE plpgsql
  STABLE
  SET search_path TO ''
  AS $function$
declare
  v_left bigint := p_original.amount - p_reversed_minor;
begin
  return case
    when p_original.kind like 'loan\_%' then
      array['BK011', format('transfer (id=%s) is a %s; loans are undone only through the loan functions',
             p_original.id, p_original.kind), p_original.kind]
    when p_original.kind = 'reversal' then
      array['BK011', format('transfer (id=%s) is itself a reversal and cannot be reversed; '
             'make a new transfer instead', p_original.id), p_original.kind]
    when not p_staff and p_original.kind <> 'transfer' then
      array['BK011', format('transfer (id=%s) is a %s; only staff reverse it', p_original.id,
             p_original.kind), p_original.kind]
    when v_left <= 0 then
      array['BK011', format('transfer (id=%s) is already reversed in full', p_original.id),
            'reversed']
    when p_amount_minor > v_left then
      array['BK007', format('amount (%s) is more than the %s of transfer (id=%s) not yet reversed',
             private.format_amount(p_amount_minor, p_original.currency),
             private.format_amount(v_left, p_original.currency), p_original.id),
            'reversible_amount']
    when p_from.status <> 'active' then
      array['BK004', format('account (id=%s) is %s', p_from.id, p_from.status), p_from.status]
    when p_to.status <> 'active' then
      array['BK004', format('account (id=%s) is %s', p_to.id, p_to.status), p_to.status]
    when p_from.kind <> 'system'
         and p_from.balance - p_from.held_minor - p_amount_minor < -p_from.overdraft_limit then
      array['BK001', format('account (id=%s) has insufficient funds: %s available, %s requested',
             p_from.id, private.format_amount(
               p_from.balance + p_from.overdraft_limit - p_from.held_minor, p_original.currency),
             private.format_amount(p_amount_minor, p_original.currency))]
  end;
end;
$function$;

CREATE OR REPLACE FUNCTION private.reversal_reply (
  p_result jsonb
)
  RETURNS jsonb
  LANGUAGE sql
  STABLE
  SET search_path TO ''
  AS $function$
  select case when p_result ? 'id' then
    p_result || jsonb_build_object('original_transfer_id',
      (select r.original_transfer_id from public.transfer_reversals as r
        where r.reversal_transfer_id = (p_result ->> 'id')::uuid))
  else p_result end
$function$;

CREATE OR REPLACE FUNCTION private.reverse_transfer (
  p_action          text,
  p_transfer_id     uuid,
  p_amount          numeric,
  p_reason          text,
  p_idempotency_key text
)
  RETURNS jsonb
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
declare
  v_staff boolean := p_action = 'admin_reverse_transfer';
  v_caller uuid;
  v_original public.transfers;
  v_exponent smallint;
  v_amount bigint;
  v_reversed bigint;
  v_hash bytea;
  v_transfer_id uuid := gen_random_uuid();
  v_accounts public.accounts[];
  v_from public.accounts;
  v_to public.accounts;
  v_refusal text[];
begin
  if v_staff then
    perform private.require_staff(p_action);
    v_caller := coalesce(auth.uid(), '00000000-0000-0000-0000-000000000000'::uuid);
  else
    v_caller := private.require_user(p_action);
  end if;
  v_original := private.reversal_original(
    v_staff, v_caller, p_transfer_id, p_reason, p_idempotency_key);
  select c.exponent into v_exponent from public.currencies as c where c.code = v_original.currency;
  if p_amount is not null then
    v_amount := private.minor_units(p_amount, v_exponent, 'p_amount', v_original.currency);
  end if;

  v_hash := sha256(convert_to(jsonb_build_array(
    p_action, p_transfer_id, v_amount, p_reason)::text, 'UTF8'));
  if not private.claim_idempotency_key(v_caller, p_idempotency_key, v_hash, v_transfer_id) then
    return private.reversal_reply(
      private.replay_idempotency_key(v_caller, p_idempotency_key, v_hash));
  end if;
  if not v_staff then
    perform private.count_money_movement(v_caller, v_original.currency, 0);
  end if;

  -- Every reversal of this transfer takes the same two locks, so the sum
  -- below is never stale.
  v_accounts := private.lock_reversal_accounts(v_original);
  v_from := v_accounts[1];
  v_to := v_accounts[2];
  select coalesce(sum(r.amount), 0) into v_reversed
    from public.transfer_reversals as r where r.original_transfer_id = p_transfer_id;
  v_amount := coalesce(v_amount, greatest(v_original.amount - v_reversed, 0));

  v_refusal := private.reversal_refusal(v_staff, v_original, v_from, v_to, v_amount, v_reversed);
  if v_refusal is not null then
    return private.refuse(v_caller, p_idempotency_key, v_refusal[1], v_refusal[2], v_refusal[3]);
  end if;

  return private.post_reversal(
    v_staff, v_transfer_id, p_transfer_id, v_from, v_to, v_amount, p_reason);
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
  if v_from.deferred_credits then v_from := private.settle_account(v_from); end if;
  if v_from.held_minor > 0 then v_from := private.release_expired_holds(v_from); end if;
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

CREATE OR REPLACE FUNCTION private.transfer_funds_batch (
  p_transfers       jsonb,
  p_idempotency_key text
)
  RETURNS jsonb
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path TO ''
  AS $function$
declare
  v_caller uuid := private.require_user('transfer_funds_batch');
  v_from_ids uuid[];
  v_to_ids uuid[];
  v_amounts numeric[];
  v_minors bigint[];
  v_codes text[];
  v_descriptions text[];
  v_currencies public.currencies[];
  v_transfer_ids uuid[];
  -- One entry per currency of the batch: its code, its row, the limits row
  -- after the count, and what the batch counted towards the day's total.
  v_currency_codes text[];
  v_currency_rows public.currencies[];
  v_limit_rows public.transfer_limits[] := '{}';
  v_counted numeric[];
  v_hash bytea;
  v_batch_id uuid := gen_random_uuid();
  v_locked uuid[];
  v_refusal jsonb;
begin
  perform private.require_idempotency_key(p_idempotency_key);
  select * into v_from_ids, v_to_ids, v_amounts, v_minors, v_codes, v_descriptions, v_currencies,
                v_transfer_ids
    from private.batch_items(p_transfers);
  select * into v_currency_codes, v_currency_rows, v_counted
    from private.batch_currencies(v_currencies, v_minors);

  v_hash := sha256(convert_to(jsonb_build_array(
    'transfer_funds_batch', v_from_ids, v_to_ids, v_minors, v_codes, v_descriptions
  )::text, 'UTF8'));
  if not private.claim_idempotency_key(v_caller, p_idempotency_key, v_hash, v_transfer_ids[1]) then
    return private.batch_replay(v_caller, p_idempotency_key, v_hash);
  end if;

  -- One call in each currency's rate-limit window, the batch's sum towards
  -- its day's total (saturating like transfer_funds').
  for c in 1 .. cardinality(v_currency_codes) loop
    v_limit_rows := v_limit_rows || private.count_money_movement(
      v_caller, v_currency_codes[c], least(v_counted[c], 9223372036854775807)::bigint);
  end loop;

  v_locked := private.lock_batch_accounts(v_caller, v_from_ids, v_to_ids);
  v_refusal := private.post_batch_items(
    v_caller, v_from_ids, v_to_ids, v_amounts, v_minors, v_codes, v_descriptions, v_transfer_ids,
    v_currency_codes, v_currency_rows, v_limit_rows, v_locked);
  if v_refusal is not null then
    perform private.uncount_batch(v_caller, v_currency_codes, v_counted);
    return private.refuse(v_caller, p_idempotency_key, v_refusal ->> 'code',
                          v_refusal ->> 'message', (v_refusal -> 'details')::text);
  end if;

  insert into public.transfer_batches (id, initiated_by, item_count)
  values (v_batch_id, v_caller, cardinality(v_transfer_ids));
  insert into public.transfer_batch_items (transfer_id, batch_id, index)
  select t.id, v_batch_id, t.n - 1
    from unnest(v_transfer_ids) with ordinality as t (id, n);
  return private.batch_reply(v_batch_id, false);
end;
$function$;

ALTER FUNCTION "private"."transfer_funds_batch"(jsonb, text) OWNER TO "ledger_owner";

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
    when p_from.balance - p_from.held_minor - p_amount_minor < -p_from.overdraft_limit then
      array['BK001', format('account (id=%s) has insufficient funds: %s available, %s requested',
             p_from.id,
             private.format_amount(p_from.balance - p_from.held_minor + p_from.overdraft_limit,
                                   p_currency.code),
             private.format_amount(p_amount_minor, p_currency.code))]
  end;
end;
$function$;

CREATE OR REPLACE FUNCTION private.uncount_batch (
  p_caller         uuid,
  p_currency_codes text[],
  p_counted        numeric[]
)
  RETURNS void
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
begin
  for c in 1 .. cardinality(p_currency_codes) loop
    update public.transfer_limits
       set outgoing_minor = greatest(outgoing_minor - least(p_counted[c], 9223372036854775807)::bigint, 0)
     where user_id = p_caller and currency = p_currency_codes[c];
  end loop;
end;
$function$;

CREATE OR REPLACE FUNCTION private.visible_hold (
  p_hold_id uuid
)
  RETURNS public.holds
  LANGUAGE plpgsql
  STABLE
  SET search_path TO ''
  AS $function$
declare
  v_hold public.holds;
begin
  select h.* into v_hold from public.holds as h
   where h.id = p_hold_id
     and (private.is_staff()
          or exists (select from public.accounts as a
                      where a.id = h.from_account_id and a.owner_id = auth.uid()));
  if v_hold.id is null then
    raise exception using errcode = 'BK005', message = format('hold (id=%s) not found', p_hold_id);
  end if;
  return v_hold;
end;
$function$;

CREATE OR REPLACE FUNCTION private.void_hold (
  p_hold_id uuid
)
  RETURNS jsonb
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path TO ''
  AS $function$
declare
  v_hold public.holds := private.visible_hold(p_hold_id);
begin
  perform 1 from public.accounts where id = v_hold.from_account_id for no key update;
  v_hold := private.lock_open_hold(p_hold_id);
  with released as (
    update public.accounts set held_minor = held_minor - v_hold.amount, updated_at = now()
     where id = v_hold.from_account_id
  )
  update public.holds
     set status = 'voided', released_amount = amount, closed_at = now()
   where id = v_hold.id
  returning * into v_hold;
  return private.hold_json(v_hold);
end;
$function$;

ALTER FUNCTION "private"."void_hold"(uuid) OWNER TO "ledger_owner";

CREATE OR REPLACE FUNCTION public.admin_reverse_transfer (
  p_transfer_id     uuid,
  p_idempotency_key text,
  p_amount          numeric DEFAULT NULL::numeric,
  p_reason          text    DEFAULT NULL::text
)
  RETURNS jsonb
  LANGUAGE sql
  SET search_path TO ''
  AS $function$
  select private.admin_reverse_transfer(p_transfer_id, p_amount, p_reason, p_idempotency_key)
$function$;

REVOKE ALL ON FUNCTION "public"."admin_reverse_transfer"(uuid, text, numeric, text) FROM PUBLIC, "anon";

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

CREATE OR REPLACE FUNCTION public.capture_hold (
  p_hold_id uuid,
  p_amount  numeric DEFAULT NULL::numeric
)
  RETURNS jsonb
  LANGUAGE sql
  SET search_path TO ''
  AS $function$
  select private.capture_hold(p_hold_id, p_amount)
$function$;

REVOKE ALL ON FUNCTION "public"."capture_hold"(uuid, numeric) FROM PUBLIC, "anon";

CREATE OR REPLACE FUNCTION public.expire_holds()
  RETURNS bigint
  LANGUAGE sql
  SET search_path TO ''
  AS $function$
  select private.expire_holds()
$function$;

REVOKE ALL ON FUNCTION "public"."expire_holds"() FROM PUBLIC, "anon";

CREATE OR REPLACE FUNCTION public.held_minor_now (
  p_account public.accounts
)
  RETURNS bigint
  LANGUAGE sql
  STABLE
  SET search_path TO ''
  AS $function$
  select case when p_account.held_minor = 0 then 0::bigint
    else (select coalesce(sum(h.amount), 0)::bigint from public.holds as h
           where h.from_account_id = p_account.id and h.status = 'pending'
             and h.expires_at > now())
  end
$function$;

REVOKE ALL ON FUNCTION "public"."held_minor_now"(public.accounts) FROM PUBLIC, "anon";

CREATE OR REPLACE FUNCTION public.hold_status (
  p_hold public.holds
)
  RETURNS text
  LANGUAGE sql
  STABLE
  SET search_path TO ''
  AS $function$
  select case when p_hold.status = 'pending' and p_hold.expires_at <= now() then 'expired'
              else p_hold.status end
$function$;

REVOKE ALL ON FUNCTION "public"."hold_status"(public.holds) FROM PUBLIC, "anon";

CREATE OR REPLACE FUNCTION public.place_hold (
  p_from_account_id    uuid,
  p_to_account_id      uuid,
  p_amount             numeric,
  p_currency           text,
  p_idempotency_key    text,
  p_description        text    DEFAULT NULL::text,
  p_expires_in_seconds integer DEFAULT NULL::integer
)
  RETURNS jsonb
  LANGUAGE sql
  SET search_path TO ''
  AS $function$
  select private.place_hold(p_from_account_id, p_to_account_id, p_amount, p_currency,
                            p_idempotency_key, p_description, p_expires_in_seconds)
$function$;

REVOKE ALL ON FUNCTION "public"."place_hold"(uuid, uuid, numeric, text, text, text, integer) FROM PUBLIC, "anon", "service_role";

CREATE OR REPLACE FUNCTION public.refund_transfer (
  p_transfer_id     uuid,
  p_idempotency_key text,
  p_amount          numeric DEFAULT NULL::numeric,
  p_reason          text    DEFAULT NULL::text
)
  RETURNS jsonb
  LANGUAGE sql
  SET search_path TO ''
  AS $function$
  select private.refund_transfer(p_transfer_id, p_amount, p_reason, p_idempotency_key)
$function$;

REVOKE ALL ON FUNCTION "public"."refund_transfer"(uuid, text, numeric, text) FROM PUBLIC, "anon", "service_role";

CREATE OR REPLACE FUNCTION public.transfer_funds_batch (
  p_transfers       jsonb,
  p_idempotency_key text
)
  RETURNS jsonb
  LANGUAGE sql
  SET search_path TO ''
  AS $function$
  select private.transfer_funds_batch(p_transfers, p_idempotency_key)
$function$;

REVOKE ALL ON FUNCTION "public"."transfer_funds_batch"(jsonb, text) FROM PUBLIC, "anon", "service_role";

CREATE OR REPLACE FUNCTION public.void_hold (
  p_hold_id uuid
)
  RETURNS jsonb
  LANGUAGE sql
  SET search_path TO ''
  AS $function$
  select private.void_hold(p_hold_id)
$function$;

REVOKE ALL ON FUNCTION "public"."void_hold"(uuid) FROM PUBLIC, "anon";

ALTER TABLE "public"."accounts"
  ADD CONSTRAINT "accounts_held_minor_not_negative" CHECK ((held_minor >= 0));

ALTER TABLE "public"."accounts"
  ADD CONSTRAINT "accounts_holds_within_overdraft" CHECK (((kind = 'system'::text) OR ((balance - held_minor) >= (- overdraft_limit))));

ALTER TABLE "public"."holds"
  ADD CONSTRAINT "holds_capture_transfer_id_fkey" FOREIGN KEY (capture_transfer_id) REFERENCES public.transfers(id);

ALTER TABLE "public"."holds"
  ADD CONSTRAINT "holds_from_account_id_fkey" FOREIGN KEY (from_account_id) REFERENCES public.accounts(id);

ALTER TABLE "public"."holds"
  ADD CONSTRAINT "holds_to_account_id_fkey" FOREIGN KEY (to_account_id) REFERENCES public.accounts(id);

ALTER TABLE "public"."payment_events"
  ADD CONSTRAINT "payment_events_transfer_id_fkey" FOREIGN KEY (transfer_id) REFERENCES public.transfers(id);

ALTER TABLE "public"."transfer_batch_items"
  ADD CONSTRAINT "transfer_batch_items_transfer_id_fkey" FOREIGN KEY (transfer_id) REFERENCES public.transfers(id);

ALTER TABLE "public"."transfer_batches"
  ADD CONSTRAINT "transfer_batches_initiated_by_fkey" FOREIGN KEY (initiated_by) REFERENCES public.profiles(id);

ALTER TABLE "public"."transfer_batch_items"
  ADD CONSTRAINT "transfer_batch_items_batch_id_fkey" FOREIGN KEY (batch_id) REFERENCES public.transfer_batches(id);

ALTER TABLE "public"."transfer_reversals"
  ADD CONSTRAINT "transfer_reversals_original_transfer_id_fkey" FOREIGN KEY (original_transfer_id) REFERENCES public.transfers(id);

ALTER TABLE "public"."transfer_reversals"
  ADD CONSTRAINT "transfer_reversals_reversal_transfer_id_fkey" FOREIGN KEY (reversal_transfer_id) REFERENCES public.transfers(id);

ALTER TABLE "public"."transfers"
  ADD CONSTRAINT "transfers_kind_check"
    CHECK ((kind = ANY (ARRAY['transfer'::text, 'deposit'::text, 'withdrawal'::text, 'loan_disbursement'::text, 'loan_repayment'::text, 'loan_write_off'::text, 'reversal'::text])));

CREATE VIEW "private"."error_statuses" AS  SELECT s.sqlstate,
    s.code,
    (s.http_status)::smallint AS http_status
   FROM ( VALUES ('BK010'::text,'forbidden'::text,403), ('BK005'::text,'not_found'::text,404), ('BK004'::text,'account_inactive'::text,409), ('BK006'::text,'idempotency_key_reused'::text,409), ('BK011'::text,'invalid_state'::text,409), ('BK009'::text,'validation_failed'::text,422), ('BK001'::text,'insufficient_funds'::text,422), ('BK002'::text,'currency_mismatch'::text,422), ('BK003'::text,'same_account'::text,422), ('BK007'::text,'limit_exceeded'::text,422), ('BK012'::text,'amount_exceeds_payoff'::text,422), ('BK008'::text,'rate_limited'::text,429)) s(sqlstate, code, http_status);

CREATE INDEX entries_account_id_created_at_idx ON public.entries USING btree (account_id, created_at, account_version);

CREATE INDEX holds_from_account_id_idx ON public.holds USING btree (from_account_id, status);

CREATE INDEX holds_pending_expires_at_idx ON public.holds USING btree (expires_at)
  WHERE (status = 'pending'::text);

CREATE INDEX holds_to_account_id_idx ON public.holds USING btree (to_account_id);

CREATE UNIQUE INDEX payment_events_one_deposit_per_payment ON public.payment_events USING btree (payment_intent_id)
  WHERE ((event_type = 'payment_intent.succeeded'::text) AND (status = 'applied'::text));

CREATE INDEX payment_events_payment_intent_id_idx ON public.payment_events USING btree (payment_intent_id);

CREATE INDEX payment_events_status_id_idx ON public.payment_events USING btree (status, id);

CREATE INDEX transfer_batches_initiated_by_idx ON public.transfer_batches USING btree (initiated_by);

CREATE INDEX transfer_reversals_original_transfer_id_idx ON public.transfer_reversals USING btree (original_transfer_id);

CREATE TRIGGER loan_status_transitions_are_fixed
  BEFORE INSERT OR DELETE OR UPDATE OR TRUNCATE ON loans_private.loan_status_transitions
  FOR EACH STATEMENT
  EXECUTE FUNCTION private.refuse_change('loan status transitions are fixed by migrations, not edited');

CREATE TRIGGER holds_audit_changes
  AFTER DELETE OR UPDATE ON public.holds
  FOR EACH ROW
  EXECUTE FUNCTION private.write_audit_log();

CREATE TRIGGER holds_cannot_be_truncated
  BEFORE TRUNCATE ON public.holds
  FOR EACH STATEMENT
  EXECUTE FUNCTION private.refuse_change('holds reserve money on accounts');

CREATE TRIGGER holds_come_from_the_ledger
  BEFORE INSERT OR DELETE OR UPDATE ON public.holds
  FOR EACH ROW
  WHEN ((CURRENT_USER <> 'ledger_owner'::name))
  EXECUTE FUNCTION private.refuse_change('holds are placed, captured and voided only by public.place_hold, public.capture_hold and public.void_hold');

CREATE TRIGGER loan_installments_come_from_loan_functions
  BEFORE INSERT OR DELETE OR UPDATE ON public.loan_installments
  FOR EACH ROW
  WHEN ((CURRENT_USER <> 'ledger_owner'::name))
  EXECUTE FUNCTION private.refuse_change('installments change only through the loan functions');

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

CREATE TRIGGER transfer_batch_items_are_append_only
  BEFORE DELETE OR UPDATE ON public.transfer_batch_items
  FOR EACH ROW
  EXECUTE FUNCTION private.refuse_change('batch items are append-only');

CREATE TRIGGER transfer_batch_items_cannot_be_truncated
  BEFORE TRUNCATE ON public.transfer_batch_items
  FOR EACH STATEMENT
  EXECUTE FUNCTION private.refuse_change('batch items are append-only');

CREATE TRIGGER transfer_batch_items_come_from_the_ledger
  BEFORE INSERT ON public.transfer_batch_items
  FOR EACH ROW
  WHEN ((CURRENT_USER <> 'ledger_owner'::name))
  EXECUTE FUNCTION private.refuse_change('batch items are written only by public.transfer_funds_batch');

CREATE TRIGGER transfer_batches_are_append_only
  BEFORE DELETE OR UPDATE ON public.transfer_batches
  FOR EACH ROW
  EXECUTE FUNCTION private.refuse_change('batches are append-only');

CREATE TRIGGER transfer_batches_cannot_be_truncated
  BEFORE TRUNCATE ON public.transfer_batches
  FOR EACH STATEMENT
  EXECUTE FUNCTION private.refuse_change('batches are append-only');

CREATE TRIGGER transfer_batches_come_from_the_ledger
  BEFORE INSERT ON public.transfer_batches
  FOR EACH ROW
  WHEN ((CURRENT_USER <> 'ledger_owner'::name))
  EXECUTE FUNCTION private.refuse_change('batches are written only by public.transfer_funds_batch');

CREATE TRIGGER transfer_reversals_are_append_only
  BEFORE DELETE OR UPDATE ON public.transfer_reversals
  FOR EACH ROW
  EXECUTE FUNCTION private.refuse_change('reversals are append-only');

CREATE TRIGGER transfer_reversals_cannot_be_truncated
  BEFORE TRUNCATE ON public.transfer_reversals
  FOR EACH STATEMENT
  EXECUTE FUNCTION private.refuse_change('reversals are append-only');

CREATE TRIGGER transfer_reversals_come_from_the_ledger
  BEFORE INSERT ON public.transfer_reversals
  FOR EACH ROW
  WHEN ((CURRENT_USER <> 'ledger_owner'::name))
  EXECUTE FUNCTION private.refuse_change('reversals are written only by public.refund_transfer and public.admin_reverse_transfer');

CREATE POLICY "Senders can read their holds and admins every hold" ON "public"."holds"
  FOR SELECT
  TO "authenticated"
  USING (((from_account_id IN ( SELECT accounts.id
   FROM public.accounts
  WHERE (accounts.owner_id = ( SELECT auth.uid() AS uid)))) OR ( SELECT private.is_admin() AS is_admin)));

CREATE POLICY "Admins can read payment events" ON "public"."payment_events"
  FOR SELECT
  TO "authenticated"
  USING (( SELECT private.is_admin() AS is_admin));

CREATE POLICY "Senders can read their batches' items and admins every item" ON "public"."transfer_batch_items"
  FOR SELECT
  TO "authenticated"
  USING (((batch_id IN ( SELECT b.id
   FROM public.transfer_batches b
  WHERE (b.initiated_by = ( SELECT auth.uid() AS uid)))) OR ( SELECT private.is_admin() AS is_admin)));

CREATE POLICY "Senders can read their batches and admins every batch" ON "public"."transfer_batches"
  FOR SELECT
  TO "authenticated"
  USING (((initiated_by = ( SELECT auth.uid() AS uid)) OR ( SELECT private.is_admin() AS is_admin)));

CREATE POLICY "Parties can read their transfers' reversals and admins every re" ON "public"."transfer_reversals"
  FOR SELECT
  TO "authenticated"
  USING (((EXISTS ( SELECT
   FROM public.transfers t
  WHERE (t.id = transfer_reversals.original_transfer_id))) OR ( SELECT private.is_admin() AS is_admin)));

COMMENT ON COLUMN "public"."accounts"."held_minor" IS 'Minor units reserved by the account''s pending holds; changed only by the hold functions.';

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

REVOKE ALL ON FUNCTION "private"."admin_reverse_transfer"(uuid, numeric, text, text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."admin_reverse_transfer"(uuid, numeric, text, text) TO "authenticated";

REVOKE ALL ON FUNCTION "private"."admin_reverse_transfer"(uuid, numeric, text, text) FROM "ledger_owner";

GRANT EXECUTE ON FUNCTION "private"."admin_reverse_transfer"(uuid, numeric, text, text) TO "ledger_owner";

GRANT EXECUTE ON FUNCTION "private"."admin_reverse_transfer"(uuid, numeric, text, text) TO "service_role";

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

REVOKE ALL ON FUNCTION "private"."batch_currencies"(public.currencies[], bigint[]) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."batch_currencies"(public.currencies[], bigint[]) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."batch_currencies"(public.currencies[], bigint[]) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."batch_currencies"(public.currencies[], bigint[]) TO "postgres";

REVOKE ALL ON FUNCTION "private"."batch_items"(jsonb) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."batch_items"(jsonb) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."batch_items"(jsonb) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."batch_items"(jsonb) TO "postgres";

REVOKE ALL ON FUNCTION "private"."batch_replay"(uuid, text, bytea) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."batch_replay"(uuid, text, bytea) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."batch_replay"(uuid, text, bytea) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."batch_replay"(uuid, text, bytea) TO "postgres";

REVOKE ALL ON FUNCTION "private"."batch_reply"(uuid, boolean) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."batch_reply"(uuid, boolean) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."batch_reply"(uuid, boolean) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."batch_reply"(uuid, boolean) TO "postgres";

REVOKE ALL ON FUNCTION "private"."capture_hold"(uuid, numeric) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."capture_hold"(uuid, numeric) TO "authenticated";

REVOKE ALL ON FUNCTION "private"."capture_hold"(uuid, numeric) FROM "ledger_owner";

GRANT EXECUTE ON FUNCTION "private"."capture_hold"(uuid, numeric) TO "ledger_owner";

GRANT EXECUTE ON FUNCTION "private"."capture_hold"(uuid, numeric) TO "service_role";

REVOKE ALL ON FUNCTION "private"."check_capture"(public.holds, bigint, public.accounts, public.accounts) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."check_capture"(public.holds, bigint, public.accounts, public.accounts) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."check_capture"(public.holds, bigint, public.accounts, public.accounts) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."check_capture"(public.holds, bigint, public.accounts, public.accounts) TO "postgres";

REVOKE ALL ON FUNCTION "private"."check_cash_request"(uuid, numeric, text, text, text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."check_cash_request"(uuid, numeric, text, text, text) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."check_cash_request"(uuid, numeric, text, text, text) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."check_cash_request"(uuid, numeric, text, text, text) TO "postgres";

REVOKE ALL ON FUNCTION "private"."expire_holds"() FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."expire_holds"() TO "authenticated";

REVOKE ALL ON FUNCTION "private"."expire_holds"() FROM "ledger_owner";

GRANT EXECUTE ON FUNCTION "private"."expire_holds"() TO "ledger_owner";

GRANT EXECUTE ON FUNCTION "private"."expire_holds"() TO "service_role";

REVOKE ALL ON FUNCTION "private"."hold_json"(public.holds) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."hold_json"(public.holds) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."hold_json"(public.holds) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."hold_json"(public.holds) TO "postgres";

REVOKE ALL ON FUNCTION "private"."hold_lifetime"(integer) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."hold_lifetime"(integer) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."hold_lifetime"(integer) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."hold_lifetime"(integer) TO "postgres";

REVOKE ALL ON FUNCTION "private"."hold_replay"(uuid, text, bytea) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."hold_replay"(uuid, text, bytea) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."hold_replay"(uuid, text, bytea) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."hold_replay"(uuid, text, bytea) TO "postgres";

REVOKE ALL ON FUNCTION "private"."lock_batch_accounts"(uuid, uuid[], uuid[]) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."lock_batch_accounts"(uuid, uuid[], uuid[]) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."lock_batch_accounts"(uuid, uuid[], uuid[]) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."lock_batch_accounts"(uuid, uuid[], uuid[]) TO "postgres";

REVOKE ALL ON FUNCTION "private"."lock_hold_accounts"(uuid, uuid, uuid) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."lock_hold_accounts"(uuid, uuid, uuid) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."lock_hold_accounts"(uuid, uuid, uuid) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."lock_hold_accounts"(uuid, uuid, uuid) TO "postgres";

REVOKE ALL ON FUNCTION "private"."lock_open_hold"(uuid) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."lock_open_hold"(uuid) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."lock_open_hold"(uuid) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."lock_open_hold"(uuid) TO "postgres";

REVOKE ALL ON FUNCTION "private"."lock_payment_accounts"(uuid, uuid) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."lock_payment_accounts"(uuid, uuid) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."lock_payment_accounts"(uuid, uuid) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."lock_payment_accounts"(uuid, uuid) TO "postgres";

REVOKE ALL ON FUNCTION "private"."lock_reversal_accounts"(public.transfers) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."lock_reversal_accounts"(public.transfers) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."lock_reversal_accounts"(public.transfers) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."lock_reversal_accounts"(public.transfers) TO "postgres";

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

REVOKE ALL ON FUNCTION "private"."place_hold"(uuid, uuid, numeric, text, text, text, integer) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."place_hold"(uuid, uuid, numeric, text, text, text, integer) TO "authenticated";

REVOKE ALL ON FUNCTION "private"."place_hold"(uuid, uuid, numeric, text, text, text, integer) FROM "ledger_owner";

GRANT EXECUTE ON FUNCTION "private"."place_hold"(uuid, uuid, numeric, text, text, text, integer) TO "ledger_owner";

REVOKE ALL
  ON FUNCTION "private"."post_batch_items"(uuid, uuid[], uuid[], numeric[], bigint[], text[], text[], uuid[], text[], public.currencies[], public.transfer_limits[], uuid[])
  FROM PUBLIC;

GRANT EXECUTE
  ON FUNCTION "private"."post_batch_items"(uuid, uuid[], uuid[], numeric[], bigint[], text[], text[], uuid[], text[], public.currencies[], public.transfer_limits[], uuid[])
  TO "ledger_owner";

REVOKE ALL
  ON FUNCTION "private"."post_batch_items"(uuid, uuid[], uuid[], numeric[], bigint[], text[], text[], uuid[], text[], public.currencies[], public.transfer_limits[], uuid[])
  FROM "postgres";

GRANT EXECUTE
  ON FUNCTION "private"."post_batch_items"(uuid, uuid[], uuid[], numeric[], bigint[], text[], text[], uuid[], text[], public.currencies[], public.transfer_limits[], uuid[])
  TO "postgres";

REVOKE ALL ON FUNCTION "private"."post_reversal"(boolean, uuid, uuid, public.accounts, public.accounts, bigint, text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."post_reversal"(boolean, uuid, uuid, public.accounts, public.accounts, bigint, text) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."post_reversal"(boolean, uuid, uuid, public.accounts, public.accounts, bigint, text) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."post_reversal"(boolean, uuid, uuid, public.accounts, public.accounts, bigint, text) TO "postgres";

REVOKE ALL ON FUNCTION "private"."post_transfer_with_entries"(uuid, text, public.accounts, public.accounts, bigint, text, uuid, boolean) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."post_transfer_with_entries"(uuid, text, public.accounts, public.accounts, bigint, text, uuid, boolean) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."post_transfer_with_entries"(uuid, text, public.accounts, public.accounts, bigint, text, uuid, boolean) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."post_transfer_with_entries"(uuid, text, public.accounts, public.accounts, bigint, text, uuid, boolean) TO "postgres";

REVOKE ALL ON FUNCTION "private"."raise_invalid_item"(integer, text, text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."raise_invalid_item"(integer, text, text) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."raise_invalid_item"(integer, text, text) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."raise_invalid_item"(integer, text, text) TO "postgres";

REVOKE ALL ON FUNCTION "private"."record_payment_event"(text, text, boolean, text, text, text, uuid, bigint, text, uuid) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."record_payment_event"(text, text, boolean, text, text, text, uuid, bigint, text, uuid) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."record_payment_event"(text, text, boolean, text, text, text, uuid, bigint, text, uuid) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."record_payment_event"(text, text, boolean, text, text, text, uuid, bigint, text, uuid) TO "postgres";

REVOKE ALL ON FUNCTION "private"."refund_mismatch"(public.payment_events, text, bigint, text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."refund_mismatch"(public.payment_events, text, bigint, text) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."refund_mismatch"(public.payment_events, text, bigint, text) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."refund_mismatch"(public.payment_events, text, bigint, text) TO "postgres";

REVOKE ALL ON FUNCTION "private"."refund_transfer"(uuid, numeric, text, text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."refund_transfer"(uuid, numeric, text, text) TO "authenticated";

REVOKE ALL ON FUNCTION "private"."refund_transfer"(uuid, numeric, text, text) FROM "ledger_owner";

GRANT EXECUTE ON FUNCTION "private"."refund_transfer"(uuid, numeric, text, text) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."release_expired_holds"(public.accounts) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."release_expired_holds"(public.accounts) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."release_expired_holds"(public.accounts) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."release_expired_holds"(public.accounts) TO "postgres";

REVOKE ALL ON FUNCTION "private"."reserve_hold"(uuid, uuid, uuid, bigint, text, text, uuid, interval) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."reserve_hold"(uuid, uuid, uuid, bigint, text, text, uuid, interval) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."reserve_hold"(uuid, uuid, uuid, bigint, text, text, uuid, interval) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."reserve_hold"(uuid, uuid, uuid, bigint, text, text, uuid, interval) TO "postgres";

REVOKE ALL ON FUNCTION "private"."reversal_original"(boolean, uuid, uuid, text, text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."reversal_original"(boolean, uuid, uuid, text, text) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."reversal_original"(boolean, uuid, uuid, text, text) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."reversal_original"(boolean, uuid, uuid, text, text) TO "postgres";

REVOKE ALL ON FUNCTION "private"."reversal_refusal"(boolean, public.transfers, public.accounts, public.accounts, bigint, bigint) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."reversal_refusal"(boolean, public.transfers, public.accounts, public.accounts, bigint, bigint) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."reversal_refusal"(boolean, public.transfers, public.accounts, public.accounts, bigint, bigint) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."reversal_refusal"(boolean, public.transfers, public.accounts, public.accounts, bigint, bigint) TO "postgres";

REVOKE ALL ON FUNCTION "private"."reversal_reply"(jsonb) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."reversal_reply"(jsonb) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."reversal_reply"(jsonb) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."reversal_reply"(jsonb) TO "postgres";

REVOKE ALL ON FUNCTION "private"."reverse_transfer"(text, uuid, numeric, text, text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."reverse_transfer"(text, uuid, numeric, text, text) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."reverse_transfer"(text, uuid, numeric, text, text) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."reverse_transfer"(text, uuid, numeric, text, text) TO "postgres";

REVOKE ALL ON FUNCTION "private"."transfer_funds_batch"(jsonb, text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."transfer_funds_batch"(jsonb, text) TO "authenticated";

REVOKE ALL ON FUNCTION "private"."transfer_funds_batch"(jsonb, text) FROM "ledger_owner";

GRANT EXECUTE ON FUNCTION "private"."transfer_funds_batch"(jsonb, text) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."uncount_batch"(uuid, text[], numeric[]) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."uncount_batch"(uuid, text[], numeric[]) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."uncount_batch"(uuid, text[], numeric[]) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."uncount_batch"(uuid, text[], numeric[]) TO "postgres";

REVOKE ALL ON FUNCTION "private"."visible_hold"(uuid) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."visible_hold"(uuid) TO "ledger_owner";

REVOKE ALL ON FUNCTION "private"."visible_hold"(uuid) FROM "postgres";

GRANT EXECUTE ON FUNCTION "private"."visible_hold"(uuid) TO "postgres";

REVOKE ALL ON FUNCTION "private"."void_hold"(uuid) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "private"."void_hold"(uuid) TO "authenticated";

REVOKE ALL ON FUNCTION "private"."void_hold"(uuid) FROM "ledger_owner";

GRANT EXECUTE ON FUNCTION "private"."void_hold"(uuid) TO "ledger_owner";

GRANT EXECUTE ON FUNCTION "private"."void_hold"(uuid) TO "service_role";

GRANT EXECUTE ON FUNCTION "public"."admin_reverse_transfer"(uuid, text, numeric, text) TO "authenticated";

REVOKE ALL ON FUNCTION "public"."admin_reverse_transfer"(uuid, text, numeric, text) FROM "postgres";

GRANT EXECUTE ON FUNCTION "public"."admin_reverse_transfer"(uuid, text, numeric, text) TO "postgres";

GRANT EXECUTE ON FUNCTION "public"."admin_reverse_transfer"(uuid, text, numeric, text) TO "service_role";

REVOKE ALL ON FUNCTION "public"."apply_payment_event"(text, text, boolean, boolean, text, text, numeric, text) FROM "postgres";

GRANT EXECUTE ON FUNCTION "public"."apply_payment_event"(text, text, boolean, boolean, text, text, numeric, text) TO "postgres";

GRANT EXECUTE ON FUNCTION "public"."apply_payment_event"(text, text, boolean, boolean, text, text, numeric, text) TO "service_role";

GRANT EXECUTE ON FUNCTION "public"."capture_hold"(uuid, numeric) TO "authenticated";

REVOKE ALL ON FUNCTION "public"."capture_hold"(uuid, numeric) FROM "postgres";

GRANT EXECUTE ON FUNCTION "public"."capture_hold"(uuid, numeric) TO "postgres";

GRANT EXECUTE ON FUNCTION "public"."capture_hold"(uuid, numeric) TO "service_role";

GRANT EXECUTE ON FUNCTION "public"."expire_holds"() TO "authenticated";

REVOKE ALL ON FUNCTION "public"."expire_holds"() FROM "postgres";

GRANT EXECUTE ON FUNCTION "public"."expire_holds"() TO "postgres";

GRANT EXECUTE ON FUNCTION "public"."expire_holds"() TO "service_role";

GRANT EXECUTE ON FUNCTION "public"."held_minor_now"(public.accounts) TO "authenticated", "ledger_owner";

REVOKE ALL ON FUNCTION "public"."held_minor_now"(public.accounts) FROM "postgres";

GRANT EXECUTE ON FUNCTION "public"."held_minor_now"(public.accounts) TO "postgres";

GRANT EXECUTE ON FUNCTION "public"."held_minor_now"(public.accounts) TO "service_role";

GRANT EXECUTE ON FUNCTION "public"."hold_status"(public.holds) TO "authenticated", "ledger_owner";

REVOKE ALL ON FUNCTION "public"."hold_status"(public.holds) FROM "postgres";

GRANT EXECUTE ON FUNCTION "public"."hold_status"(public.holds) TO "postgres";

GRANT EXECUTE ON FUNCTION "public"."hold_status"(public.holds) TO "service_role";

GRANT EXECUTE ON FUNCTION "public"."place_hold"(uuid, uuid, numeric, text, text, text, integer) TO "authenticated";

REVOKE ALL ON FUNCTION "public"."place_hold"(uuid, uuid, numeric, text, text, text, integer) FROM "postgres";

GRANT EXECUTE ON FUNCTION "public"."place_hold"(uuid, uuid, numeric, text, text, text, integer) TO "postgres";

GRANT EXECUTE ON FUNCTION "public"."refund_transfer"(uuid, text, numeric, text) TO "authenticated";

REVOKE ALL ON FUNCTION "public"."refund_transfer"(uuid, text, numeric, text) FROM "postgres";

GRANT EXECUTE ON FUNCTION "public"."refund_transfer"(uuid, text, numeric, text) TO "postgres";

GRANT EXECUTE ON FUNCTION "public"."transfer_funds_batch"(jsonb, text) TO "authenticated";

REVOKE ALL ON FUNCTION "public"."transfer_funds_batch"(jsonb, text) FROM "postgres";

GRANT EXECUTE ON FUNCTION "public"."transfer_funds_batch"(jsonb, text) TO "postgres";

GRANT EXECUTE ON FUNCTION "public"."void_hold"(uuid) TO "authenticated";

REVOKE ALL ON FUNCTION "public"."void_hold"(uuid) FROM "postgres";

GRANT EXECUTE ON FUNCTION "public"."void_hold"(uuid) TO "postgres";

GRANT EXECUTE ON FUNCTION "public"."void_hold"(uuid) TO "service_role";

REVOKE ALL ON SEQUENCE "public"."payment_events_id_seq" FROM "anon";

GRANT SELECT, UPDATE, USAGE ON SEQUENCE "public"."payment_events_id_seq" TO "anon";

REVOKE ALL ON SEQUENCE "public"."payment_events_id_seq" FROM "authenticated";

GRANT SELECT, UPDATE, USAGE ON SEQUENCE "public"."payment_events_id_seq" TO "authenticated";

GRANT SELECT, UPDATE, USAGE ON SEQUENCE "public"."payment_events_id_seq" TO "ledger_owner";

REVOKE ALL ON SEQUENCE "public"."payment_events_id_seq" FROM "postgres";

GRANT SELECT, UPDATE, USAGE ON SEQUENCE "public"."payment_events_id_seq" TO "postgres";

REVOKE ALL ON SEQUENCE "public"."payment_events_id_seq" FROM "service_role";

GRANT SELECT, UPDATE, USAGE ON SEQUENCE "public"."payment_events_id_seq" TO "service_role";

REVOKE ALL ON TABLE "public"."holds" FROM "authenticated";

GRANT SELECT ON TABLE "public"."holds" TO "authenticated";

GRANT DELETE, INSERT, SELECT, UPDATE ON TABLE "public"."holds" TO "ledger_owner";

REVOKE ALL ON TABLE "public"."holds" FROM "postgres";

GRANT DELETE, INSERT, REFERENCES, SELECT, TRIGGER, TRUNCATE, UPDATE ON TABLE "public"."holds" TO "postgres";

REVOKE ALL ON TABLE "public"."holds" FROM "service_role";

GRANT SELECT ON TABLE "public"."holds" TO "service_role";

REVOKE ALL ON TABLE "public"."payment_events" FROM "authenticated";

GRANT SELECT ON TABLE "public"."payment_events" TO "authenticated";

GRANT DELETE, INSERT, SELECT, UPDATE ON TABLE "public"."payment_events" TO "ledger_owner";

REVOKE ALL ON TABLE "public"."payment_events" FROM "postgres";

GRANT DELETE, INSERT, REFERENCES, SELECT, TRIGGER, TRUNCATE, UPDATE ON TABLE "public"."payment_events" TO "postgres";

REVOKE ALL ON TABLE "public"."payment_events" FROM "service_role";

GRANT SELECT ON TABLE "public"."payment_events" TO "service_role";

REVOKE ALL ON TABLE "public"."transfer_batch_items" FROM "authenticated";

GRANT SELECT ON TABLE "public"."transfer_batch_items" TO "authenticated";

GRANT DELETE, INSERT, SELECT, UPDATE ON TABLE "public"."transfer_batch_items" TO "ledger_owner";

REVOKE ALL ON TABLE "public"."transfer_batch_items" FROM "postgres";

GRANT DELETE, INSERT, REFERENCES, SELECT, TRIGGER, TRUNCATE, UPDATE ON TABLE "public"."transfer_batch_items" TO "postgres";

REVOKE ALL ON TABLE "public"."transfer_batch_items" FROM "service_role";

GRANT SELECT ON TABLE "public"."transfer_batch_items" TO "service_role";

REVOKE ALL ON TABLE "public"."transfer_batches" FROM "authenticated";

GRANT SELECT ON TABLE "public"."transfer_batches" TO "authenticated";

GRANT DELETE, INSERT, SELECT, UPDATE ON TABLE "public"."transfer_batches" TO "ledger_owner";

REVOKE ALL ON TABLE "public"."transfer_batches" FROM "postgres";

GRANT DELETE, INSERT, REFERENCES, SELECT, TRIGGER, TRUNCATE, UPDATE ON TABLE "public"."transfer_batches" TO "postgres";

REVOKE ALL ON TABLE "public"."transfer_batches" FROM "service_role";

GRANT SELECT ON TABLE "public"."transfer_batches" TO "service_role";

REVOKE ALL ON TABLE "public"."transfer_reversals" FROM "authenticated";

GRANT SELECT ON TABLE "public"."transfer_reversals" TO "authenticated";

GRANT DELETE, INSERT, SELECT, UPDATE ON TABLE "public"."transfer_reversals" TO "ledger_owner";

REVOKE ALL ON TABLE "public"."transfer_reversals" FROM "postgres";

GRANT DELETE, INSERT, REFERENCES, SELECT, TRIGGER, TRUNCATE, UPDATE ON TABLE "public"."transfer_reversals" TO "postgres";

REVOKE ALL ON TABLE "public"."transfer_reversals" FROM "service_role";

GRANT SELECT ON TABLE "public"."transfer_reversals" TO "service_role";

GRANT DELETE, INSERT, SELECT, UPDATE ON TABLE "private"."error_statuses" TO "ledger_owner";

REVOKE ALL ON TABLE "private"."error_statuses" FROM "postgres";

GRANT DELETE, INSERT, REFERENCES, SELECT, TRIGGER, TRUNCATE, UPDATE ON TABLE "private"."error_statuses" TO "postgres";
