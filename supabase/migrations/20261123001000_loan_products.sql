-- Loan products: the terms the bank offers, per currency.
--
-- Why: a loan is always granted under a product (issue 5). The product fixes
-- the currency, the principal and term ranges an application must fall in, the
-- annual interest rate in basis points, the amortization method and the day
-- count convention. Staff edit products from the dashboard, so every change is
-- audited with the ledger's audit trigger. A loan copies the product's terms
-- when it is applied for: editing a product never changes an existing loan.
--
-- Day count: '30/360' is the only convention offered. Every month counts 30
-- days and the year 360, so one installment's interest is
-- balance * annual_rate_bps / 10000 * 30 / 360, and a part of a month is
-- counted with the 30E/360 rule (loans_private.days_30_360).
--
-- Each currency has at most one default product (`is_default`), used when an
-- application names no product. One is created here for every currency the
-- ledger knows.
--
-- Also creates the schema `loans_private`, which PostgREST does not expose:
-- the loan functions that run as their owner live there (see
-- 20261123001200_loan_functions.sql).

create schema if not exists loans_private;
revoke all on schema loans_private from public;

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

-- A default product for every currency: 100 to 100,000 major units over 1 to
-- 360 months at 9.00 % a year, equal installments.
insert into public.loan_products
  (name, currency, min_principal, max_principal, min_term_months, max_term_months,
   annual_rate_bps, amortization_method, is_default)
select
  'Personal loan ' || c.code,
  c.code,
  100 * power(10, c.exponent)::bigint,
  100000 * power(10, c.exponent)::bigint,
  1,
  360,
  900,
  'equal_installments',
  true
from public.currencies as c
on conflict (name) do nothing;

-- Every change is audited with the ledger's trigger: who (auth.uid() or the
-- database role), the row before and after.
create trigger loan_products_audit_changes
  after insert or update or delete on public.loan_products
  for each row execute function private.write_audit_log();
