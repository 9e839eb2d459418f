-- The loan RPCs: apply, withdraw, approve (disburse), reject, repay, payoff
-- quote and write-off.
--
-- Why here and not in Python: each of these changes loans, installments and
-- the ledger together, so each runs in one transaction with the rows it
-- depends on locked. Every movement of money is a ledger transfer written by
-- the ledger's own posting routine (private.post_transfer, reached through
-- loans_private.post_transfer), so balances, versions, balance_after, sorted
-- locking and the dashboard guards hold for loans as they do for
-- transfer_funds.
--
-- Idempotency: loan_repay claims its key in the ledger's idempotency_records
-- (one key space per caller for all money-moving calls) and, exactly as
-- transfer_funds does, answers the first rule a repayment breaks
-- (loans_private.repayment_refusal) by storing it there with private.refuse;
-- the functions without a key (apply, approve, ...) raise. The reply of a
-- repayment that moved money is kept in loans_private.loan_repayments, so a
-- replay returns the first answer, not today's state of the loan. Approval is
-- made exactly-once by the loan's row lock and status instead of a key.
--
-- Pattern (Supabase's, as the ledger does): the work is done by `security
-- definer` functions in `loans_private`, a schema PostgREST does not expose,
-- with `set search_path = ''`; `public` holds thin `security invoker`
-- wrappers, the only names the API sees. Execute is revoked from public and
-- anon and granted to exactly the roles that need it.
--
-- Money flows, per currency, between the customer's account and three bank
-- system accounts (70_loan_products.sql):
--   approve:    loan funding -> customer           kind loan_disbursement
--   repay:      customer -> loan funding           kind loan_repayment
--               loan funding -> interest income    kind loan_repayment (the interest part)
--   write-off:  loan losses -> loan funding        kind loan_write_off
-- so the loan funding account's balance is always minus the principal still
-- owed on open loans (sql/checks/loans_funding_matches_outstanding.sql).
--
-- Concurrency: every function that changes a loan locks its row `for update`
-- first and then checks its status, so two admins approving at once disburse
-- once (the second sees `active` and gets BK011), and a repayment never races
-- a write-off. Loan rows are always locked before ledger accounts, and the
-- close of business locks loans in id order, so no two of these deadlock.
--
-- Repayment allocation, in this order: interest of past-due installments
-- (oldest first), their principal, then the current installment's interest
-- (before its due date only what has accrued by the payment date, as the
-- payoff counts it, so paying in parts on one day costs what paying off at
-- once does) and principal, then prepayment of principal. A prepayment pays the schedule
-- from the LAST installment backwards, so the term shortens: the earlier
-- installments keep their principal and due dates, the last ones are settled
-- early, and the interest of every installment after the current one is
-- recomputed on the principal still owed at its start (30/360), so those
-- installments get smaller too. Paying exactly the payoff amount for today
-- closes the loan: interest not yet accrued (see loan_payoff_quote) is
-- dropped. More than the payoff amount is refused with BK012.

-- Helpers ---------------------------------------------------------------------





-- The loan as the API returns it: amounts in minor units, with its schedule.
create function loans_private.loan_json(p_loan_id uuid)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'id', l.id,
    'account_id', l.account_id,
    'product_id', l.product_id,
    'principal', l.principal,
    'currency', l.currency,
    'term_months', l.term_months,
    'annual_rate_bps', l.annual_rate_bps,
    'amortization_method', l.amortization_method,
    'day_count', l.day_count,
    'purpose', l.purpose,
    'status', l.status,
    'outstanding_principal', l.outstanding_principal,
    'disbursed_on', l.disbursed_on,
    'disbursement_transfer_id', l.disbursement_transfer_id,
    'write_off_transfer_id', l.write_off_transfer_id,
    'decision_reason', l.decision_reason,
    'created_at', l.created_at,
    'schedule', coalesce((
      select jsonb_agg(jsonb_build_object(
               'number', i.number,
               'due_date', i.due_date,
               'principal', i.principal_due,
               'interest', i.interest_due,
               'total', i.principal_due + i.interest_due,
               'paid', i.principal_paid + i.interest_paid,
               'principal_paid', i.principal_paid,
               'interest_paid', i.interest_paid,
               'status', i.status
             ) order by i.number)
      from public.loan_installments as i
      where i.loan_id = l.id
    ), '[]'::jsonb)
  )
  from public.loans as l
  where l.id = p_loan_id
$$;


-- Repayments ------------------------------------------------------------------
-- One row per repayment that moved money: its allocation and the reply the
-- first call gave, which a replay with the same idempotency key returns. The
-- key itself is claimed in the ledger's idempotency_records (one key space
-- per caller for every money-moving call), with the repayment's transfer id.
create table loans_private.loan_repayments (
  transfer_id uuid primary key references public.transfers (id),
  loan_id uuid not null references public.loans (id),
  interest_transfer_id uuid unique references public.transfers (id),
  amount bigint not null check (amount > 0),
  interest bigint not null check (interest >= 0),
  principal bigint not null check (principal >= 0),
  reply jsonb not null,
  created_at timestamptz not null default now(),
  constraint loan_repayments_parts_sum check (interest + principal = amount)
);

create index loan_repayments_loan_id_idx on loans_private.loan_repayments (loan_id);


-- The product an application is made under (the currency's default when it
-- names none), refusing one that does not lend this currency, principal or
-- term.
create function loans_private.product_for_application(
  p_product_id uuid, p_currency text, p_principal_minor bigint, p_term_months integer
)
returns public.loan_products
language plpgsql
stable
set search_path = ''
as $$
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
$$;

-- The parts of an application checked before any row is read: BK009 naming
-- the field. Answers the principal in minor units.
create function loans_private.check_application(
  p_principal numeric, p_currency text, p_term_months integer, p_purpose text
)
returns bigint
language plpgsql
stable
set search_path = ''
as $$
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
$$;

create function loans_private.loan_apply(
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
$$;

-- Lock a loan for a state change; not_found for a loan the caller may not see.
create function loans_private.lock_loan(p_loan_id uuid, p_borrower_id uuid)
returns public.loans
language plpgsql
set search_path = ''
as $$
declare
  v_loan public.loans;
begin
  select l.* into v_loan from public.loans as l where l.id = p_loan_id for update;
  if not found or (p_borrower_id is not null and v_loan.borrower_id <> p_borrower_id) then
    raise exception 'loan (id=%) not found', p_loan_id using errcode = 'BK005';
  end if;
  return v_loan;
end;
$$;

-- Withdraw --------------------------------------------------------------------
create function loans_private.loan_withdraw(p_loan_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_loan public.loans := loans_private.lock_loan(p_loan_id, private.require_user('loan_withdraw'));
begin
  if v_loan.status <> 'pending' then
    raise exception 'loan (id=%) is %, cannot withdraw', p_loan_id, v_loan.status
      using errcode = 'BK011';
  end if;
  update public.loans
  set status = 'withdrawn', decided_by = auth.uid(), decided_at = now(), closed_at = now()
  where id = p_loan_id;
  return loans_private.loan_json(p_loan_id);
end;
$$;

create function loans_private.admin_loan_approve(p_loan_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_loan public.loans;
  v_transfer_id uuid;
begin
  perform private.require_staff('admin_loan_approve');
  -- The lock serialises concurrent approvals: the second waits here, then
  -- sees `active` and is refused, so the principal is disbursed once.
  v_loan := loans_private.lock_loan(p_loan_id, null);
  if v_loan.status <> 'pending' then
    raise exception 'loan (id=%) is %, cannot approve', p_loan_id, v_loan.status
      using errcode = 'BK011';
  end if;

  v_transfer_id := loans_private.post_transfer(
    'loan_disbursement',
    private.system_account(v_loan.currency, 'loan_funding'),
    v_loan.account_id,
    v_loan.principal,
    v_loan.currency,
    format('Disbursement of loan %s', v_loan.id)
  );

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

  return loans_private.loan_json(p_loan_id);
end;
$$;

-- Reject ----------------------------------------------------------------------
create function loans_private.admin_loan_reject(p_loan_id uuid, p_reason text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_loan public.loans;
begin
  perform private.require_staff('admin_loan_reject');
  v_loan := loans_private.lock_loan(p_loan_id, null);
  if v_loan.status <> 'pending' then
    raise exception 'loan (id=%) is %, cannot reject', p_loan_id, v_loan.status
      using errcode = 'BK011';
  end if;
  if char_length(p_reason) > 500 then
    raise exception 'reason is longer than 500 characters' using errcode = 'BK009', detail = 'reason';
  end if;
  update public.loans
  set status = 'rejected', decision_reason = p_reason, decided_by = auth.uid(),
      decided_at = now(), closed_at = now()
  where id = p_loan_id;
  return loans_private.loan_json(p_loan_id);
end;
$$;

-- Payoff ----------------------------------------------------------------------
-- What pays the loan off on p_date: all principal still owed, the unpaid
-- interest of every installment due on or before p_date (or marked overdue),
-- and for the installment whose month is running on p_date the interest
-- accrued so far, 30E/360 days since its period started (capped at 30) over
-- 30 of its scheduled interest, less what was already paid of it. Interest of
-- later installments has not accrued and is not owed.
create function loans_private.payoff(p_loan_id uuid, p_date date)
returns table (amount bigint, in_progress integer, accrued bigint)
language plpgsql
stable
set search_path = ''
as $$
declare
  v_principal bigint;
  v_due_interest bigint;
  v_running record;
begin
  select coalesce(sum(i.principal_due - i.principal_paid), 0),
         coalesce(sum(i.interest_due - i.interest_paid)
                    filter (where i.status = 'overdue' or i.due_date <= p_date), 0)
  into v_principal, v_due_interest
  from public.loan_installments as i
  where i.loan_id = p_loan_id and i.status <> 'written_off';

  select s.number, s.interest_due, s.interest_paid, s.period_start into v_running
  from (
    select i.number, i.interest_due, i.interest_paid, i.status, i.due_date,
           coalesce(lag(i.due_date) over (order by i.number), l.disbursed_on) as period_start
    from public.loan_installments as i
    join public.loans as l on l.id = i.loan_id
    where i.loan_id = p_loan_id
  ) as s
  where s.status <> 'overdue' and s.due_date > p_date
  order by s.number
  limit 1;

  in_progress := v_running.number;
  accrued := 0;
  if v_running.number is not null then
    accrued := round(
      v_running.interest_due::numeric
      * greatest(0, least(30, loans_private.days_30_360(v_running.period_start, p_date))) / 30
    )::bigint;
  end if;
  amount := v_principal + v_due_interest
            + greatest(accrued - coalesce(v_running.interest_paid, 0), 0);
  return next;
end;
$$;

create function loans_private.loan_payoff_quote(p_loan_id uuid, p_date date)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
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
$$;

-- Repay -----------------------------------------------------------------------
-- Pay up to `p_amount` of one part ('interest' or 'principal') of the
-- installments `p_numbers`, in that order, each up to what it still owes.
-- Answers what it paid. A null number (no current installment) pays nothing.
create function loans_private.pay_installments(
  p_loan_id uuid, p_numbers integer[], p_part text, p_amount bigint
)
returns bigint
language plpgsql
set search_path = ''
as $$
declare
  v_left bigint := p_amount;
  v_number integer;
  v_pay bigint;
begin
  foreach v_number in array p_numbers loop
    exit when v_left = 0;
    continue when v_number is null;
    update public.loan_installments as i
       set interest_paid = i.interest_paid + case when p_part = 'interest' then o.pay else 0 end,
           principal_paid = i.principal_paid + case when p_part = 'principal' then o.pay else 0 end
      from (select least(v_left, case p_part when 'interest' then x.interest_due - x.interest_paid
                                             else x.principal_due - x.principal_paid end) as pay
              from public.loan_installments as x
             where x.loan_id = p_loan_id and x.number = v_number) as o
     where i.loan_id = p_loan_id and i.number = v_number
    returning o.pay into v_pay;
    v_left := v_left - coalesce(v_pay, 0);
  end loop;
  return p_amount - v_left;
end;
$$;

-- 5. after a prepayment, the installments after the current one owe
-- interest only on the principal still owed at their start (30/360).
create function loans_private.reprice_after_prepayment(
  p_loan public.loans, p_date date, p_current integer
)
returns void
language sql
set search_path = ''
as $$
  update public.loan_installments as i
  set interest_due = greatest(i.interest_paid,
                              round(b.balance::numeric * p_loan.annual_rate_bps * 30 / (360 * 10000))::bigint)
  from (
    select x.number,
           sum(x.principal_due - x.principal_paid) over (order by x.number desc) as balance
    from public.loan_installments as x
    where x.loan_id = p_loan.id
  ) as b
  where i.loan_id = p_loan.id and b.number = i.number
    and i.status = 'pending' and i.due_date >= p_date
    and i.number > coalesce(p_current, 0)
$$;

-- 4. Prepay up to `p_amount` of principal from the last installment
-- backwards, so the term shortens; 5. then reprice the installments after
-- the current one. Answers what it paid.
create function loans_private.prepay_principal(
  p_loan public.loans, p_date date, p_current integer, p_amount bigint
)
returns bigint
language plpgsql
set search_path = ''
as $$
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
$$;

-- The current installment on `p_date`: the first one not yet past due and not
-- settled, and the interest it owes by then: all of it on its due date;
-- before, only what has accrued (the running installment's share, as the
-- payoff counts it; a later one's has not begun). No row when every
-- installment is past due or settled.
create function loans_private.current_installment(
  p_loan_id uuid, p_date date, p_running integer, p_running_accrued bigint,
  out number integer, out interest_owed bigint
)
returns setof record
language sql
stable
set search_path = ''
as $$
  select i.number,
         case when i.due_date <= p_date then i.interest_due - i.interest_paid
              when i.number = p_running then greatest(p_running_accrued - i.interest_paid, 0)
              else 0 end
  from public.loan_installments as i
  where i.loan_id = p_loan_id and i.status = 'pending' and i.due_date >= p_date
    and (i.principal_paid < i.principal_due or i.interest_paid < i.interest_due)
  order by i.number
  limit 1
$$;

-- Spreads p_amount over the installments in the documented order and marks
-- what it settles; the caller has locked the loan and checked p_amount
-- against the payoff. Interest is paid only as far as it has accrued by
-- p_date, as the payoff counts it (`p_running` and `p_running_accrued` are
-- the payoff's running installment and its accrued interest), so paying part
-- early and the rest on the same day costs what paying off at once does.
-- Returns the allocation.
create function loans_private.allocate_repayment(
  p_loan public.loans,
  p_amount bigint,
  p_date date,
  p_running integer,
  p_running_accrued bigint
)
returns jsonb
language plpgsql
set search_path = ''
as $$
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
$$;

-- Paying off: interest that has not accrued by `p_date` is not owed, so the
-- running installment keeps only what accrued and the later ones none.
create function loans_private.drop_unaccrued_interest(
  p_loan_id uuid, p_in_progress integer, p_accrued bigint, p_date date
)
returns void
language sql
set search_path = ''
as $$
  update public.loan_installments
  set interest_due = greatest(p_accrued, interest_paid)
  where loan_id = p_loan_id and number = p_in_progress;
  update public.loan_installments
  set interest_due = interest_paid
  where loan_id = p_loan_id and number > p_in_progress
    and status = 'pending' and due_date > p_date;
$$;

-- A loan's outstanding principal and status from its installments after a
-- repayment: paid off when nothing is owed, active again when no installment
-- is overdue.
create function loans_private.settle_loan_status(p_loan_id uuid)
returns void
language sql
set search_path = ''
as $$
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
  where l.id = p_loan_id
$$;

-- The first rule a repayment breaks, as {sqlstate, message, details}, or
-- null, as private.transfer_refusal answers for a transfer: loan_repay stores
-- it under the key with private.refuse. The loan's own rules come first; the
-- amount's (null until the loan's currency has given it its minor units) and
-- the accounts' follow. The caller has locked the loan and both accounts.
create function loans_private.repayment_refusal(
  p_loan_id uuid,
  p_loan public.loans,
  p_account_id uuid,
  p_account public.accounts,
  p_funding public.accounts,
  p_amount_minor bigint,
  p_payoff_minor bigint
)
returns text[]
language plpgsql
stable
set search_path = ''
as $$
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
$$;

-- Lock the borrower's account and the loan funding account in id order, as
-- every posting locks, settling the borrower's deferred credits so the funds
-- check sees them. The borrower's account is locked (and returned) only if
-- it is the caller's.
create function loans_private.lock_repayment_accounts(
  p_uid uuid, p_account_id uuid, p_funding_id uuid,
  out account public.accounts, out funding public.accounts
)
language plpgsql
set search_path = ''
as $$
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
$$;

-- Post a repayment the refusal let through: the transfer, then its
-- allocation over the installments, the interest part to income, the loan's
-- status, and the reply a replay returns. `p_payoff`, `p_running` and
-- `p_running_accrued` are the payoff's amount, running installment and that
-- installment's accrued interest on `p_date` (loans_private.payoff).
create function loans_private.post_repayment(
  p_loan public.loans,
  p_account public.accounts,
  p_funding public.accounts,
  p_amount bigint,
  p_payoff bigint,
  p_running integer,
  p_running_accrued bigint,
  p_date date,
  p_transfer_id uuid
)
returns jsonb
language plpgsql
set search_path = ''
as $$
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
$$;

-- A repayment under a claimed key: refused (and the refusal stored under the
-- key) or posted. The loan is locked before the accounts, as every loan
-- function locks, so a repayment never races an approval or a write-off.
create function loans_private.repay(
  p_uid uuid,
  p_loan_id uuid,
  p_amount numeric,
  p_from_account_id uuid,
  p_idempotency_key text,
  p_transfer_id uuid
)
returns jsonb
language plpgsql
set search_path = ''
as $$
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
$$;

create function loans_private.loan_repay(
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
$$;

-- Write-off -------------------------------------------------------------------
-- The bank gives up on the principal still owed: the loss account covers it,
-- so the loan funding account again nets to the open loans.
create function loans_private.admin_loan_write_off(p_loan_id uuid, p_reason text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_loan public.loans;
  v_transfer_id uuid;
begin
  perform private.require_staff('admin_loan_write_off');
  v_loan := loans_private.lock_loan(p_loan_id, null);
  if v_loan.status not in ('active', 'overdue') then
    raise exception 'loan (id=%) is %, cannot write off', p_loan_id, v_loan.status
      using errcode = 'BK011';
  end if;
  if char_length(p_reason) > 500 then
    raise exception 'reason is longer than 500 characters' using errcode = 'BK009', detail = 'reason';
  end if;

  v_transfer_id := loans_private.post_transfer(
    'loan_write_off',
    private.system_account(v_loan.currency, 'loan_losses'),
    private.system_account(v_loan.currency, 'loan_funding'),
    v_loan.outstanding_principal,
    v_loan.currency,
    format('Write-off of loan %s', v_loan.id)
  );

  update public.loans
  set status = 'written_off', write_off_transfer_id = v_transfer_id,
      decision_reason = coalesce(p_reason, decision_reason), closed_at = now()
  where id = p_loan_id;
  update public.loan_installments
  set status = 'written_off'
  where loan_id = p_loan_id and status in ('pending', 'overdue');

  return loans_private.loan_json(p_loan_id);
end;
$$;

-- The API: thin invoker wrappers in public -----------------------------------
create function public.loan_apply(
  p_account_id uuid,
  p_principal numeric,
  p_currency text,
  p_term_months integer,
  p_product_id uuid default null,
  p_purpose text default null
)
returns jsonb
language sql
security invoker
set search_path = ''
as $$
  select loans_private.loan_apply(p_account_id, p_principal, p_currency, p_term_months,
                                  p_product_id, p_purpose)
$$;

create function public.loan_withdraw(p_loan_id uuid)
returns jsonb
language sql
security invoker
set search_path = ''
as $$
  select loans_private.loan_withdraw(p_loan_id)
$$;

create function public.loan_repay(
  p_loan_id uuid,
  p_amount numeric,
  p_from_account_id uuid,
  p_idempotency_key text
)
returns jsonb
language sql
security invoker
set search_path = ''
as $$
  select loans_private.loan_repay(p_loan_id, p_amount, p_from_account_id, p_idempotency_key)
$$;

create function public.loan_payoff_quote(
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

create function public.admin_loan_approve(p_loan_id uuid)
returns jsonb
language sql
security invoker
set search_path = ''
as $$
  select loans_private.admin_loan_approve(p_loan_id)
$$;

create function public.admin_loan_reject(p_loan_id uuid, p_reason text default null)
returns jsonb
language sql
security invoker
set search_path = ''
as $$
  select loans_private.admin_loan_reject(p_loan_id, p_reason)
$$;

create function public.admin_loan_write_off(p_loan_id uuid, p_reason text default null)
returns jsonb
language sql
security invoker
set search_path = ''
as $$
  select loans_private.admin_loan_write_off(p_loan_id, p_reason)
$$;

-- Grants ------------------------------------------------------------------------
-- Nothing in loans_private is callable by default; the API roles may run the
-- entry points (which check the caller themselves) and the helpers RLS uses.
revoke all on all functions in schema loans_private from public, anon, authenticated, service_role;

grant execute on function
  loans_private.loan_apply(uuid, numeric, text, integer, uuid, text),
  loans_private.loan_withdraw(uuid),
  loans_private.loan_repay(uuid, numeric, uuid, text),
  loans_private.loan_payoff_quote(uuid, date),
  loans_private.admin_loan_approve(uuid),
  loans_private.admin_loan_reject(uuid, text),
  loans_private.admin_loan_write_off(uuid, text)
  to authenticated, service_role;

revoke execute on function
  public.loan_apply(uuid, numeric, text, integer, uuid, text),
  public.loan_withdraw(uuid),
  public.loan_repay(uuid, numeric, uuid, text),
  public.loan_payoff_quote(uuid, date),
  public.admin_loan_approve(uuid),
  public.admin_loan_reject(uuid, text),
  public.admin_loan_write_off(uuid, text)
  from public, anon;

grant execute on function
  public.loan_apply(uuid, numeric, text, integer, uuid, text),
  public.loan_withdraw(uuid),
  public.loan_repay(uuid, numeric, uuid, text),
  public.loan_payoff_quote(uuid, date),
  public.admin_loan_approve(uuid),
  public.admin_loan_reject(uuid, text),
  public.admin_loan_write_off(uuid, text)
  to authenticated, service_role;


-- Limits on loan applications, per borrower.
--
-- Why: loan_apply writes a loan and up to 480 installments per call and,
-- unlike transfer_funds and loan_repay, moves no money, so neither funds nor
-- the per-currency transfer limits bound how fast one customer (or a stolen
-- token) fills public.loans, public.loan_installments and the staff's review
-- queue. Two limits:
--   * at most 5 applications pending at once (a decision or a withdrawal
--     frees a slot): BK007 limit_exceeded (422), details
--     'max_pending_applications';
--   * at most 20 applications in any 24 hours, whatever became of them (so
--     apply-then-withdraw cannot loop): BK008 rate_limited (429), details the
--     seconds until the oldest of them leaves the window, which the functions
--     send as Retry-After.
-- Enforced by a trigger on insert into public.loans, so it holds for every
-- path that creates a loan. The borrower's profile row is locked first
-- (`for no key update`, which foreign-key checks do not wait for), so two
-- concurrent applications of one borrower are counted one after the other
-- and cannot both take the last slot.

create function loans_private.limit_applications()
returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
declare
  c_max_pending constant integer := 5;
  c_max_per_day constant integer := 20;
  v_pending integer;
  v_recent integer;
  v_oldest_recent timestamptz;
begin
  perform 1 from public.profiles where id = new.borrower_id for no key update;
  select count(*) filter (where status = 'pending'),
         count(*) filter (where created_at > now() - interval '24 hours'),
         min(created_at) filter (where created_at > now() - interval '24 hours')
    into v_pending, v_recent, v_oldest_recent
    from public.loans
   where borrower_id = new.borrower_id;
  if v_pending >= c_max_pending then
    raise exception using
      errcode = 'BK007',
      message = format('at most %s loan applications can be pending at once; '
                       'withdraw one or wait for a decision', c_max_pending),
      detail = 'max_pending_applications';
  end if;
  if v_recent >= c_max_per_day then
    raise exception using
      errcode = 'BK008',
      message = format('at most %s loan applications in 24 hours', c_max_per_day),
      detail = greatest(1, ceil(extract(epoch from
                 v_oldest_recent + interval '24 hours' - clock_timestamp())))::text;
  end if;
  return new;
end;
$$;

revoke execute on function loans_private.limit_applications() from public;

create trigger loans_limit_applications
  before insert on public.loans
  for each row execute function loans_private.limit_applications();

-- Repayment replies: written only by loan_repay, never deleted or truncated.
create trigger loan_repayments_come_from_loan_functions
  before insert or update or delete on loans_private.loan_repayments
  for each row when (current_user <> 'ledger_owner')
  execute function private.refuse_change('loan repayments are written only by loan_repay');

create trigger loan_repayments_are_kept
  before delete on loans_private.loan_repayments
  for each row execute function private.refuse_change('loan repayments are kept for replays');

create trigger loan_repayments_cannot_be_truncated
  before truncate on loans_private.loan_repayments
  for each statement execute function private.refuse_change('loan repayments are kept for replays');

