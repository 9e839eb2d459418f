-- Loans and their installments, with a lifecycle the database enforces.
--
-- A loan is money the bank has lent; its state must stay consistent with the
-- ledger whoever edits it, including staff in the dashboard as `postgres`
-- (which bypasses RLS). So:
--
-- * The lifecycle, modelled on Apache Fineract, is a table of allowed
--   transitions (`loans_private.loan_status_transitions`) checked by a trigger
--   on every update, for every role:
--
--     pending --approve (disburses)--> active
--     pending --> rejected | withdrawn
--     active  <--> overdue            (close of business; arrears cleared)
--     active | overdue --> paid_off | written_off
--
--   Every other change of status is refused. Fineract's separate "approved"
--   state is folded into `active`: approval disburses in the same transaction
--   (72_loan_functions.sql), so a loan is never approved but undisbursed.
-- * Check constraints tie the status to the ledger: a disbursed loan names its
--   disbursement transfer, a written-off loan its write-off transfer, a paid
--   off loan owes no principal, a loan never disbursed owes nothing.
-- * The terms (borrower, account, product, currency, principal, term, rate,
--   method, day count) never change after the application. The money columns
--   and the installments change only inside the loan functions (current_user
--   `ledger_owner`); anyone else's insert, update or delete of an
--   installment, and any delete of a loan, is refused.
-- * Loans are audited with the ledger's audit trigger.
--
-- RLS: borrowers read their own loans and installments, admins read all;
-- no API role inserts, updates or deletes them (every write is an RPC).

create table public.loans (
  id uuid primary key default gen_random_uuid(),
  borrower_id uuid not null references public.profiles (id),
  account_id uuid not null references public.accounts (id),
  product_id uuid not null references public.loan_products (id),
  currency text not null references public.currencies (code),
  principal bigint not null check (principal > 0),
  term_months integer not null check (term_months between 1 and 480),
  annual_rate_bps integer not null check (annual_rate_bps between 0 and 10000),
  amortization_method text not null
    check (amortization_method in ('equal_installments', 'equal_principal')),
  day_count text not null default '30/360' check (day_count = '30/360'),
  purpose text check (char_length(purpose) <= 500),
  status text not null default 'pending'
    check (status in ('pending', 'rejected', 'withdrawn', 'active', 'overdue', 'paid_off', 'written_off')),
  outstanding_principal bigint not null default 0,
  disbursed_on date,
  disbursement_transfer_id uuid references public.transfers (id),
  write_off_transfer_id uuid references public.transfers (id),
  decided_by uuid,
  decided_at timestamptz,
  decision_reason text check (char_length(decision_reason) <= 500),
  closed_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint loans_outstanding_within_principal
    check (outstanding_principal between 0 and principal),
  constraint loans_disbursed_iff_transfer
    check ((status in ('pending', 'rejected', 'withdrawn'))
           = (disbursement_transfer_id is null and disbursed_on is null)),
  constraint loans_undisbursed_owe_nothing
    check (status not in ('pending', 'rejected', 'withdrawn') or outstanding_principal = 0),
  constraint loans_written_off_iff_transfer
    check ((status = 'written_off') = (write_off_transfer_id is not null)),
  constraint loans_paid_off_owe_nothing
    check (status <> 'paid_off' or outstanding_principal = 0),
  constraint loans_open_owe_something
    check (status not in ('active', 'overdue') or outstanding_principal > 0)
);

comment on table public.loans is
  'Loans, amounts in minor units. Status changes only along loans_private.loan_status_transitions; money columns only through the loan RPCs.';

create index loans_borrower_id_idx on public.loans (borrower_id);

create index loans_account_id_idx on public.loans (account_id);

create index loans_product_id_idx on public.loans (product_id);

create index loans_currency_idx on public.loans (currency);

create index loans_open_idx on public.loans (status) where status in ('active', 'overdue');

create unique index loans_disbursement_transfer_id_key on public.loans (disbursement_transfer_id);

create unique index loans_write_off_transfer_id_key on public.loans (write_off_transfer_id);

create table public.loan_installments (
  loan_id uuid not null references public.loans (id),
  number integer not null check (number between 1 and 480),
  due_date date not null,
  principal_due bigint not null check (principal_due >= 0),
  interest_due bigint not null check (interest_due >= 0),
  principal_paid bigint not null default 0,
  interest_paid bigint not null default 0,
  status text not null default 'pending' check (status in ('pending', 'overdue', 'paid', 'written_off')),
  overdue_since date,
  paid_on date,
  primary key (loan_id, number),
  constraint loan_installments_principal_paid_within_due
    check (principal_paid between 0 and principal_due),
  constraint loan_installments_interest_paid_within_due
    check (interest_paid between 0 and interest_due),
  -- One way only: a repayment settles amounts first and marks them paid at
  -- its end (sql/checks/loans_status_matches_installments.sql checks that
  -- nothing settled stays unpaid).
  constraint loan_installments_paid_means_settled
    check (status <> 'paid' or (principal_paid = principal_due and interest_paid = interest_due)),
  constraint loan_installments_overdue_has_date
    check ((status = 'overdue') = (overdue_since is not null) or status in ('paid', 'written_off'))
);

comment on table public.loan_installments is
  'The repayment schedule of each loan, amounts in minor units. Written only by the loan RPCs.';

create index loan_installments_open_due_idx
  on public.loan_installments (due_date) where status = 'pending';

-- The lifecycle --------------------------------------------------------------
create table loans_private.loan_status_transitions (
  from_status text not null,
  to_status text not null,
  primary key (from_status, to_status)
);


-- The table is the lifecycle: nobody edits it, not even from the dashboard.
create trigger loan_status_transitions_are_fixed
  before insert or update or delete or truncate on loans_private.loan_status_transitions
  for each statement execute function private.refuse_change(
    'loan status transitions are fixed by migrations, not edited');

-- Loans: the loan functions are the ones running as ledger_owner.
create function loans_private.in_loan_function()
returns boolean
language sql
stable
set search_path = ''
as $$
  select current_user = 'ledger_owner'
$$;

create function loans_private.guard_loans()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if tg_op = 'DELETE' then
    raise exception 'loan (id=%) cannot be deleted: loans are kept for their history', old.id
      using errcode = 'BK011';
  end if;
  if tg_op = 'INSERT' then
    if not loans_private.in_loan_function() then
      raise exception 'loans are created only by loan_apply'
        using errcode = 'BK011';
    end if;
    if new.status <> 'pending' then
      raise exception 'a new loan is pending, not %', new.status using errcode = 'BK011';
    end if;
    return new;
  end if;

  if (new.id, new.borrower_id, new.account_id, new.product_id, new.currency, new.principal,
      new.term_months, new.annual_rate_bps, new.amortization_method, new.day_count,
      new.created_at)
     is distinct from
     (old.id, old.borrower_id, old.account_id, old.product_id, old.currency, old.principal,
      old.term_months, old.annual_rate_bps, old.amortization_method, old.day_count,
      old.created_at) then
    raise exception 'loan (id=%): the terms of a loan never change after the application', old.id
      using errcode = 'BK011';
  end if;

  if new.status is distinct from old.status and not exists (
    select from loans_private.loan_status_transitions as t
    where t.from_status = old.status and t.to_status = new.status
  ) then
    raise exception 'loan (id=%) is %, cannot become %', old.id, old.status, new.status
      using errcode = 'BK011';
  end if;

  if (new.outstanding_principal, new.disbursed_on, new.disbursement_transfer_id,
      new.write_off_transfer_id)
     is distinct from
     (old.outstanding_principal, old.disbursed_on, old.disbursement_transfer_id,
      old.write_off_transfer_id)
     and not loans_private.in_loan_function() then
    raise exception 'loan (id=%): outstanding principal, disbursement and write-off change only through the loan functions', old.id
      using errcode = 'BK011';
  end if;

  new.updated_at := now();
  return new;
end;
$$;

create trigger loans_guard
  before insert or update or delete on public.loans
  for each row execute function loans_private.guard_loans();


create trigger loans_no_truncate
  before truncate on public.loans
  for each statement execute function private.refuse_change('loans are kept');

-- Installments are written only by the loan functions (running as
-- ledger_owner), as entries are only by a posting (60_audit_and_guards.sql).
create trigger loan_installments_come_from_loan_functions
  before insert or update or delete on public.loan_installments
  for each row when (current_user <> 'ledger_owner')
  execute function private.refuse_change('installments change only through the loan functions');

create trigger loan_installments_no_truncate
  before truncate on public.loan_installments
  for each statement execute function private.refuse_change('installments are kept with their loan');

-- Row-level security ---------------------------------------------------------

alter table public.loans enable row level security;

alter table public.loan_installments enable row level security;

revoke all on public.loans, public.loan_installments from anon, authenticated, service_role;

grant select on public.loans, public.loan_installments to authenticated, service_role;

create policy "Borrowers can read their loans and admins all loans"
  on public.loans for select
  to authenticated
  using (borrower_id = (select auth.uid()) or (select private.is_admin()));

create policy "Borrowers can read their installments and admins all installments"
  on public.loan_installments for select
  to authenticated
  using (
    (select private.is_admin())
    or loan_id in (select l.id from public.loans as l where l.borrower_id = (select auth.uid()))
  );

-- Audit: who changed which loan, before and after (the ledger's audit
-- trigger). Installments are not copied into the audit log: they change only
-- inside the loan functions, each change there comes with an audited change
-- of its loan or a ledger transfer, and the close of business would otherwise
-- write an audit row per installment per day.
create trigger loans_audit_changes
  after insert or update or delete on public.loans
  for each row execute function private.write_audit_log();

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
