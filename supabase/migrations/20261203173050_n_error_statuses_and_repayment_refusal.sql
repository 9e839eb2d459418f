SET local check_function_bodies = off;

DROP FUNCTION "loans_private"."repay_once"(uuid, uuid, numeric, uuid, uuid);

DROP FUNCTION "private"."http_status"(text);

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
    if v_row.deferred_credits then
      v_row := private.settle_account(v_row);
    end if;
    if v_row.id = p_funding_id then funding := v_row; else account := v_row; end if;
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
  perform private.post_transfer(
    p_transfer_id, 'loan_repayment', p_account, p_funding, p_amount,
    format('Repayment of loan %s', p_loan.id), auth.uid());

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
  v_refusal := loans_private.repayment_refusal(p_loan_id, v_loan, p_from_account_id, null, null, null, null);
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

REVOKE ALL ON FUNCTION "loans_private"."lock_repayment_accounts"(uuid, uuid, uuid) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "loans_private"."lock_repayment_accounts"(uuid, uuid, uuid) TO "ledger_owner";

REVOKE ALL ON FUNCTION "loans_private"."lock_repayment_accounts"(uuid, uuid, uuid) FROM "postgres";

GRANT EXECUTE ON FUNCTION "loans_private"."lock_repayment_accounts"(uuid, uuid, uuid) TO "postgres";

REVOKE ALL ON FUNCTION "loans_private"."post_repayment"(public.loans, public.accounts, public.accounts, bigint, bigint, integer, bigint, date, uuid) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "loans_private"."post_repayment"(public.loans, public.accounts, public.accounts, bigint, bigint, integer, bigint, date, uuid) TO "ledger_owner";

REVOKE ALL ON FUNCTION "loans_private"."post_repayment"(public.loans, public.accounts, public.accounts, bigint, bigint, integer, bigint, date, uuid) FROM "postgres";

GRANT EXECUTE ON FUNCTION "loans_private"."post_repayment"(public.loans, public.accounts, public.accounts, bigint, bigint, integer, bigint, date, uuid) TO "postgres";

REVOKE ALL ON FUNCTION "loans_private"."repay"(uuid, uuid, numeric, uuid, text, uuid) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "loans_private"."repay"(uuid, uuid, numeric, uuid, text, uuid) TO "ledger_owner";

REVOKE ALL ON FUNCTION "loans_private"."repay"(uuid, uuid, numeric, uuid, text, uuid) FROM "postgres";

GRANT EXECUTE ON FUNCTION "loans_private"."repay"(uuid, uuid, numeric, uuid, text, uuid) TO "postgres";

REVOKE ALL ON FUNCTION "loans_private"."repayment_refusal"(uuid, public.loans, uuid, public.accounts, public.accounts, bigint, bigint) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION "loans_private"."repayment_refusal"(uuid, public.loans, uuid, public.accounts, public.accounts, bigint, bigint) TO "ledger_owner";

REVOKE ALL ON FUNCTION "loans_private"."repayment_refusal"(uuid, public.loans, uuid, public.accounts, public.accounts, bigint, bigint) FROM "postgres";

GRANT EXECUTE ON FUNCTION "loans_private"."repayment_refusal"(uuid, public.loans, uuid, public.accounts, public.accounts, bigint, bigint) TO "postgres";

GRANT DELETE, INSERT, SELECT, UPDATE ON TABLE "private"."error_statuses" TO "ledger_owner";

REVOKE ALL ON TABLE "private"."error_statuses" FROM "postgres";

GRANT DELETE, INSERT, REFERENCES, SELECT, TRIGGER, TRUNCATE, UPDATE ON TABLE "private"."error_statuses" TO "postgres";
