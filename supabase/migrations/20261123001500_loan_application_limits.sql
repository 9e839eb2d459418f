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
