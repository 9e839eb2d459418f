-- Loan postings settle a deferred-credit account before checking its funds.
--
-- Why: 20261123000700_deferred_credits.sql lets staff mark an account
-- `deferred_credits`; credits to it wait in public.pending_credits until a
-- settle. loans_private.post_transfer checked a repayment's funds against the
-- locked row's balance, which leaves out those committed credits, so a
-- borrower whose money had arrived but was not settled yet was refused
-- (never overdrawn: the check could only be too strict). Settling the locked
-- sender first, as transfer_funds does, makes the check see every committed
-- credit. Everything else is as in 20261123001050_loan_ledger_accounts.sql.

create or replace function loans_private.post_transfer(
  p_kind text,
  p_from_account_id uuid,
  p_to_account_id uuid,
  p_amount bigint,
  p_currency text,
  p_description text,
  p_transfer_id uuid default null
)
returns uuid
language plpgsql
set search_path = ''
as $$
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
  if v_from.kind <> 'system' and v_from.balance - p_amount < -v_from.overdraft_limit then
    raise exception 'account (id=%) has insufficient funds', v_from.id using errcode = 'BK001';
  end if;

  v_transfer := private.post_transfer(
    coalesce(p_transfer_id, gen_random_uuid()), p_kind, v_from, v_to, p_amount, p_description,
    auth.uid());
  return v_transfer.id;
end;
$$;

revoke execute on function
  loans_private.post_transfer(text, uuid, uuid, bigint, text, text, uuid)
from public, anon, authenticated, service_role;
