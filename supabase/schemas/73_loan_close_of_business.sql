-- Daily close of business for loans: marks overdue installments and loans.
--
-- Why a function keyed by business date: the job may run twice (a retry, an
-- operator rerunning it), late, or for a date in the past. Each business date
-- is closed once: the first run records its date and what it marked in
-- `loans_private.close_of_business_runs`; any later call with that date
-- returns the stored result and changes nothing. The marking itself only ever
-- moves installments from pending to overdue, so runs for different dates
-- never undo each other.
--
-- For business date D an installment is overdue when it is unpaid and its due
-- date is before D (it was not paid by the end of its due date); its loan
-- then becomes `overdue` until a repayment clears every overdue installment.
--
-- On hosted Supabase, schedule it with pg_cron (enable the extension in the
-- dashboard first), after midnight for the day that just ended:
--
--   select cron.schedule(
--     'loans-close-of-business',
--     '5 0 * * *',
--     $$select public.loans_close_of_business(current_date)$$
--   );
--
-- pg_cron runs it as `postgres`. Locally, the tests call it with a given date.

create table loans_private.close_of_business_runs (
  business_date date primary key,
  installments_marked integer not null default 0,
  loans_marked integer not null default 0,
  ran_at timestamptz not null default now(),
  ran_by text not null default current_user
);

create function loans_private.loans_close_of_business(p_business_date date)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_installments integer;
  v_loans integer;
  v_run loans_private.close_of_business_runs;
begin
  perform private.require_staff('loans_close_of_business');
  if p_business_date is null then
    raise exception 'business date is required' using errcode = 'BK009', detail = 'business_date';
  end if;

  -- A concurrent run of the same date waits here on the key, then finds it.
  insert into loans_private.close_of_business_runs (business_date)
  values (p_business_date)
  on conflict (business_date) do nothing;
  if not found then
    select r.* into v_run from loans_private.close_of_business_runs as r
    where r.business_date = p_business_date;
    return jsonb_build_object(
      'business_date', v_run.business_date,
      'installments_marked', v_run.installments_marked,
      'loans_marked', v_run.loans_marked,
      'replayed', true);
  end if;

  -- Lock the loans this run changes in id order, as every loan function locks
  -- a loan before anything else, so a run and a repayment never deadlock.
  perform 1 from public.loans as l
  where l.status in ('active', 'overdue')
    and exists (select from public.loan_installments as i
                where i.loan_id = l.id and i.status = 'pending' and i.due_date < p_business_date)
  order by l.id
  for update;

  update public.loan_installments as i
  set status = 'overdue', overdue_since = p_business_date
  from public.loans as l
  where l.id = i.loan_id and l.status in ('active', 'overdue')
    and i.status = 'pending' and i.due_date < p_business_date;
  get diagnostics v_installments = row_count;

  update public.loans as l
  set status = 'overdue'
  where l.status = 'active'
    and exists (select from public.loan_installments as i
                where i.loan_id = l.id and i.status = 'overdue');
  get diagnostics v_loans = row_count;

  update loans_private.close_of_business_runs
  set installments_marked = v_installments, loans_marked = v_loans
  where business_date = p_business_date;

  return jsonb_build_object(
    'business_date', p_business_date,
    'installments_marked', v_installments,
    'loans_marked', v_loans,
    'replayed', false);
end;
$$;

create function public.loans_close_of_business(
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

revoke execute on function loans_private.loans_close_of_business(date) from public, anon, authenticated;

revoke execute on function public.loans_close_of_business(date) from public, anon, authenticated;

grant execute on function loans_private.loans_close_of_business(date) to service_role;

grant execute on function public.loans_close_of_business(date) to service_role;

-- Close-of-business runs: written only by the run, never truncated.
create trigger close_of_business_runs_come_from_the_run
  before insert or update or delete on loans_private.close_of_business_runs
  for each row when (current_user <> 'ledger_owner')
  execute function private.refuse_change('close of business runs are written only by the run');

create trigger close_of_business_runs_cannot_be_truncated
  before truncate on loans_private.close_of_business_runs
  for each statement execute function private.refuse_change('close of business runs are kept');

-- Rate-limit counters: only the money-moving functions count.
