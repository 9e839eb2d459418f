-- The ledger side of loans: transfer kinds, the bank's loan system accounts,
-- and the one door through which loan code posts to the ledger.
--
-- Why: every movement of loan money is an ordinary ledger transfer written by
-- the ledger's own `private.post_transfer`, so the ledger's invariants
-- (entries sum to zero, balance = sum of entries, contiguous versions,
-- balance_after, the `ledger.posting` guard) hold with loans in play.
--
-- Loans move money through three bank accounts per currency, kind `system`,
-- found with `private.system_account(currency, purpose)`:
--   loan_funding          the bank's money lent out; its balance is always
--                         minus the principal owed on open loans
--   loan_interest_income  interest repaid by borrowers
--   loan_losses           principal written off (an expense, so negative)
-- A currency added later gets them from a trigger, as it gets its cash account.
--
-- Transfer kinds added for loans: loan_disbursement, loan_repayment (also the
-- interest part moved on to interest income) and loan_write_off.

create schema if not exists loans_private;
revoke all on schema loans_private from public;

alter table public.transfers drop constraint transfers_kind_check;
alter table public.transfers add constraint transfers_kind_check
  check (kind in ('transfer', 'deposit', 'withdrawal',
                  'loan_disbursement', 'loan_repayment', 'loan_write_off'));

create function loans_private.create_loan_accounts_for_currency()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.accounts (kind, system_purpose, currency, nickname)
  select 'system', p.purpose, new.code, new.code || ' ' || replace(p.purpose, '_', ' ')
  from (values ('loan_funding'), ('loan_interest_income'), ('loan_losses')) as p (purpose)
  order by p.purpose;
  return new;
end;
$$;

revoke execute on function loans_private.create_loan_accounts_for_currency() from public;

create trigger currencies_create_loan_accounts
  after insert on public.currencies
  for each row execute function loans_private.create_loan_accounts_for_currency();

insert into public.accounts (kind, system_purpose, currency, nickname)
select 'system', p.purpose, c.code, c.code || ' ' || replace(p.purpose, '_', ' ')
from public.currencies as c
cross join (values ('loan_funding'), ('loan_interest_income'), ('loan_losses')) as p (purpose)
order by c.code, p.purpose;

create function loans_private.system_account(p_purpose text, p_currency text)
returns uuid
language plpgsql
stable
set search_path = ''
as $$
declare
  v_account_id uuid := private.system_account(p_currency, p_purpose);
begin
  if v_account_id is null then
    raise exception 'no % system account for %', p_purpose, p_currency using errcode = 'BK005';
  end if;
  return v_account_id;
end;
$$;

-- Post one transfer the way transfer_funds does: lock both accounts once, in
-- id order (`for no key update`, as the ledger does, so a loan row's foreign
-- key never waits on it), check status, currency and funds, then hand the
-- locked rows to the ledger's posting function. Raises BK001/BK002/BK004/BK005
-- with a message naming the account; the caller decides whether to store it.
-- Every loan function locks its loan row before calling this, so loans are
-- always locked before accounts.
create function loans_private.post_transfer(
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
  if v_from.kind <> 'system' and v_from.balance - p_amount < -v_from.overdraft_limit then
    raise exception 'account (id=%) has insufficient funds', v_from.id using errcode = 'BK001';
  end if;

  v_transfer := private.post_transfer(
    coalesce(p_transfer_id, gen_random_uuid()), p_kind, v_from, v_to, p_amount, p_description,
    auth.uid());
  return v_transfer.id;
end;
$$;

create function loans_private.transfer_json(p_transfer_id uuid)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'id', t.id, 'kind', t.kind, 'from_account_id', t.from_account_id,
    'to_account_id', t.to_account_id, 'amount', t.amount, 'currency', t.currency,
    'description', t.description, 'status', t.status, 'created_at', t.created_at)
  from public.transfers as t
  where t.id = p_transfer_id
$$;

revoke execute on all functions in schema loans_private from public;
