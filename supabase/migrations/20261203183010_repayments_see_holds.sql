SET local check_function_bodies = off;

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
