-- Business dates come from one function, in the bank's timezone.
--
-- Why: the loan functions used `current_date`, which is the date in the
-- session's TimeZone, and any caller can choose that: PostgREST applies
-- `Prefer: timezone=Pacific/Kiritimati`, which moved a payoff quote's date a
-- day ahead and changed its amount (Etc/GMT+12 moved it a day back, saving a
-- day of interest). A business date (a loan's disbursement and due dates, the
-- day a repayment is allocated on, the default of a payoff quote and of the
-- close of business) is the bank's, so it is read from a setting of the
-- database that no session can change:
--
--   * `private.bank_settings` holds one row with the bank's IANA timezone
--     (UTC here; a bank sets its own from the dashboard, audited). Only staff
--     can write it (no API role has a grant); it cannot be deleted or
--     truncated, and an unknown timezone is refused.
--   * `private.business_date()` is today in that timezone:
--     `(now() at time zone <bank tz>)::date`, which does not depend on the
--     session's TimeZone.
--
-- loan_apply, admin_loan_approve and repay_once are redefined with it in
-- place of current_date, unchanged otherwise; public.loan_payoff_quote and
-- public.loans_close_of_business default to it.

create table private.bank_settings (
  id boolean primary key default true check (id),
  timezone text not null
);

comment on table private.bank_settings is
  'One row: the bank''s own settings. timezone (IANA name) is the zone of every business date.';

insert into private.bank_settings (timezone) values ('UTC');

create function private.guard_bank_settings()
returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
  if tg_op = 'DELETE' then
    raise exception using errcode = 'BK011', message = 'the bank settings row cannot be deleted';
  end if;
  if not exists (select from pg_catalog.pg_timezone_names where name = new.timezone) then
    raise exception using
      errcode = 'BK009',
      message = format('timezone (%s) is not a known IANA timezone', new.timezone),
      detail = 'timezone';
  end if;
  return new;
end;
$$;

revoke execute on function private.guard_bank_settings() from public;

create trigger bank_settings_guard
  before insert or update or delete on private.bank_settings
  for each row execute function private.guard_bank_settings();
create trigger bank_settings_cannot_be_truncated
  before truncate on private.bank_settings
  for each statement execute function private.refuse_change('the bank settings row is kept');
create trigger bank_settings_audit_changes
  after insert or update or delete on private.bank_settings
  for each row execute function private.write_audit_log();

-- Today in the bank's timezone. Security definer so API roles, which cannot
-- read private.bank_settings, can call it (as the payoff quote's default).
create function private.business_date()
returns date
language sql
stable
security definer
set search_path = ''
as $$
  select (now() at time zone s.timezone)::date from private.bank_settings as s
$$;

alter function private.business_date() owner to ledger_owner;
revoke execute on function private.business_date() from public;
grant execute on function private.business_date() to authenticated, service_role, ledger_owner;

create or replace function loans_private.loan_apply(
  p_account_id uuid,
  p_principal numeric,
  p_currency text,
  p_term_months integer,
  p_product_id uuid,
  p_purpose text
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_uid uuid := loans_private.require_user('loan_apply');
  v_account public.accounts;
  v_product public.loan_products;
  v_principal bigint;
  v_loan_id uuid;
begin
  v_principal := loans_private.to_minor(p_principal, p_currency, 'principal');
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

  if v_principal not between v_product.min_principal and v_product.max_principal then
    raise exception 'principal (% minor units) is outside loan product (id=%) range % to %',
      v_principal, v_product.id, v_product.min_principal, v_product.max_principal
      using errcode = 'BK009', detail = 'principal';
  end if;
  if p_term_months not between v_product.min_term_months and v_product.max_term_months then
    raise exception 'term_months (%) is outside loan product (id=%) range % to %',
      p_term_months, v_product.id, v_product.min_term_months, v_product.max_term_months
      using errcode = 'BK009', detail = 'term_months';
  end if;

  perform loans_private.enter_internal();
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
  perform loans_private.leave_internal();

  return loans_private.loan_json(v_loan_id);
end;
$$;

create or replace function loans_private.admin_loan_approve(p_loan_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_loan public.loans;
  v_transfer_id uuid;
begin
  perform loans_private.require_staff('admin_loan_approve');
  -- The lock serialises concurrent approvals: the second waits here, then
  -- sees `active` and is refused, so the principal is disbursed once.
  v_loan := loans_private.lock_loan(p_loan_id, null);
  if v_loan.status <> 'pending' then
    raise exception 'loan (id=%) is %, cannot approve', p_loan_id, v_loan.status
      using errcode = 'BK011';
  end if;

  v_transfer_id := loans_private.post_transfer(
    'loan_disbursement',
    loans_private.system_account('loan_funding', v_loan.currency),
    v_loan.account_id,
    v_loan.principal,
    v_loan.currency,
    format('Disbursement of loan %s', v_loan.id)
  );

  perform loans_private.enter_internal();
  update public.loans
  set status = 'active',
      disbursed_on = private.business_date(),
      disbursement_transfer_id = v_transfer_id,
      outstanding_principal = principal,
      decided_by = auth.uid(),
      decided_at = now()
  where id = p_loan_id;
  update public.loan_installments
  set due_date = (private.business_date() + make_interval(months => number))::date
  where loan_id = p_loan_id;
  perform loans_private.leave_internal();

  return loans_private.loan_json(p_loan_id);
end;
$$;

create or replace function loans_private.repay_once(
  p_uid uuid,
  p_loan_id uuid,
  p_amount numeric,
  p_from_account_id uuid,
  p_transfer_id uuid
)
returns jsonb
language plpgsql
set search_path = ''
as $$
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
  v_amount := loans_private.to_minor(p_amount, v_loan.currency, 'amount');

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
    raise exception 'amount (% minor units) exceeds the payoff amount (% minor units) of loan (id=%)',
      v_amount, v_payoff.amount, p_loan_id
      using errcode = 'BK012', detail = v_payoff.amount::text;
  end if;

  v_funding := loans_private.system_account('loan_funding', v_loan.currency);
  v_transfer_id := loans_private.post_transfer(
    'loan_repayment', v_account.id, v_funding, v_amount, v_loan.currency,
    format('Repayment of loan %s', v_loan.id), p_transfer_id
  );

  perform loans_private.enter_internal();
  if v_amount = v_payoff.amount and v_payoff.in_progress is not null then
    -- Paying off: interest that has not accrued yet is not owed.
    update public.loan_installments
    set interest_due = greatest(v_payoff.accrued, interest_paid)
    where loan_id = p_loan_id and number = v_payoff.in_progress;
    update public.loan_installments
    set interest_due = interest_paid
    where loan_id = p_loan_id and number > v_payoff.in_progress
      and status = 'pending' and due_date > v_date;
  end if;
  v_allocation := loans_private.allocate_repayment(v_loan, v_amount, v_date);

  -- The interest part is the bank's income, not a return of lent principal.
  v_interest := (v_allocation ->> 'interest')::bigint;
  if v_interest > 0 then
    v_interest_transfer_id := loans_private.post_transfer(
      'loan_repayment', v_funding,
      loans_private.system_account('loan_interest_income', v_loan.currency),
      v_interest, v_loan.currency, format('Interest of loan %s', v_loan.id)
    );
  end if;

  update public.loans as l
  set outstanding_principal = s.principal_left,
      status = case
        when s.principal_left = 0 and s.interest_left = 0 then 'paid_off'
        when l.status = 'overdue' and s.overdue = 0 then 'active'
        else l.status
      end,
      closed_at = case when s.principal_left = 0 and s.interest_left = 0 then now() end
  from (
    select coalesce(sum(i.principal_due - i.principal_paid), 0) as principal_left,
           coalesce(sum(i.interest_due - i.interest_paid), 0) as interest_left,
           count(*) filter (where i.status = 'overdue') as overdue
    from public.loan_installments as i
    where i.loan_id = p_loan_id
  ) as s
  where l.id = p_loan_id;
  perform loans_private.leave_internal();

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
$$;

create or replace function public.loan_payoff_quote(
  p_loan_id uuid, p_date date default private.business_date()
)
returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
  select loans_private.loan_payoff_quote(p_loan_id, p_date)
$$;

create or replace function public.loans_close_of_business(
  p_business_date date default private.business_date()
)
returns jsonb
language sql
security invoker
set search_path = ''
as $$
  select loans_private.loans_close_of_business(p_business_date)
$$;

comment on function public.loans_close_of_business(date) is
  'Marks overdue installments and loans for a business date (default: today in the bank''s timezone); '
  'a rerun of a date changes nothing. service_role and postgres only. '
  'pg_cron: select cron.schedule(''loans-close-of-business'', ''5 0 * * *'', '
  '$$select public.loans_close_of_business()$$)';
