-- Loan products (the terms the bank offers, per currency) and the bank's
-- loan system accounts.
--
-- A loan is always granted under a product. The product fixes the currency,
-- the principal and term ranges an application must fall in, the annual
-- interest rate in basis points, the amortization method and the day count
-- convention. Staff edit products from the dashboard, audited. A loan copies
-- the product's terms when it is applied for: editing a product never changes
-- an existing loan. Each currency has at most one default product
-- (`is_default`), used when an application names no product.
--
-- Day count: '30/360' is the only convention offered. Every month counts 30
-- days and the year 360, so one installment's interest is
-- balance * annual_rate_bps / 10000 * 30 / 360, and a part of a month is
-- counted with the 30E/360 rule (loans_private.days_30_360).


create table public.loan_products (
  id uuid primary key default gen_random_uuid(),
  name text not null unique check (char_length(name) between 1 and 100),
  currency text not null references public.currencies (code),
  min_principal bigint not null check (min_principal > 0),
  max_principal bigint not null,
  min_term_months integer not null check (min_term_months >= 1),
  max_term_months integer not null check (max_term_months <= 480),
  annual_rate_bps integer not null check (annual_rate_bps between 0 and 10000),
  amortization_method text not null default 'equal_installments'
    check (amortization_method in ('equal_installments', 'equal_principal')),
  day_count text not null default '30/360' check (day_count = '30/360'),
  is_default boolean not null default false,
  active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint loan_products_principal_range check (max_principal >= min_principal),
  constraint loan_products_term_range check (max_term_months >= min_term_months),
  constraint loan_products_default_is_active check (not is_default or active)
);

comment on table public.loan_products is
  'Loan terms offered per currency; amounts in minor units, rate in basis points. Edited by staff in the dashboard, audited.';

comment on column public.loan_products.day_count is
  '30/360: a month counts 30 days, a year 360; partial months use the 30E/360 rule.';

create unique index loan_products_one_default_per_currency
  on public.loan_products (currency) where is_default;

create index loan_products_currency_idx on public.loan_products (currency);

create function loans_private.touch_updated_at()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end;
$$;

create trigger loan_products_touch_updated_at
  before update on public.loan_products
  for each row execute function loans_private.touch_updated_at();

-- Row-level security: any signed-in user may read the catalogue (to choose a
-- product); writes happen only in the dashboard, as `postgres`, which bypasses
-- RLS. No policy grants insert, update or delete to an API role.
alter table public.loan_products enable row level security;

revoke all on public.loan_products from anon, authenticated;

grant select on public.loan_products to authenticated;

grant select, insert, update, delete on public.loan_products to service_role;

create policy "Signed-in users can read loan products"
  on public.loan_products for select
  to authenticated
  using (true);


-- Every change is audited with the ledger's trigger: who (auth.uid() or the
-- database role), the row before and after.
create trigger loan_products_audit_changes
  after insert or update or delete on public.loan_products
  for each row execute function private.write_audit_log();

-- The ledger side of loans. Every movement of loan money is an ordinary
-- ledger transfer written by the ledger's own `private.post_transfer`, so the
-- ledger's invariants hold with loans in play. Loans move money through three
-- bank accounts per currency, kind `system`, found with
-- `private.system_account(currency, purpose)`:
--   loan_funding          the bank's money lent out; its balance is always
--                         minus the principal owed on open loans
--   loan_interest_income  interest repaid by borrowers
--   loan_losses           principal written off (an expense, so negative)
-- A currency gets them from a trigger when it is inserted, as it gets its
-- cash account.



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



-- Loan postings settle a deferred-credit account before checking its funds.
--
-- Credits to an account marked `deferred_credits` (40_transfers.sql) wait in
-- public.pending_credits until a settle; the locked row's balance leaves them
-- out. Settling the locked sender first, as transfer_funds does, makes the
-- funds check see every committed credit.

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

-- Loan products: edited by staff and audited, but never truncated.
create trigger loan_products_cannot_be_truncated
  before truncate on public.loan_products
  for each statement execute function private.refuse_change('loan products are referenced by loans');

