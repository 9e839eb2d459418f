-- Hooks into the platform, and the rows the bank starts with.
--
--   * the trigger on Supabase Auth's `auth.users` that makes a profile for
--     every new user (10_currencies_and_profiles.sql);
--   * PostgREST's pre-request check, a setting of the authenticator role
--     (80_postgrest_exposure.sql);
--   * the currencies (whose insert triggers make each currency's cash and loan
--     system accounts), a default loan product per currency, the loan
--     lifecycle's transitions and the bank's settings row.
--
-- Not managed by pg-delta (other schemas, role settings and rows):
-- scripts/schema_diff.py copies this file as it is to the end of the baseline
-- migration, after every table, trigger and owner exists, and a change here
-- needs a hand-written migration (`scripts/schema_diff.py check` verifies it).

create trigger on_auth_user_created
  after insert on auth.users
  for each row execute function private.create_profile_for_new_user();

alter role authenticator set pgrst.db_pre_request = 'private.check_request';

insert into public.currencies
  (code, exponent, name, max_transfer_minor, daily_outgoing_limit_minor, transfers_per_minute)
values
  ('USD', 2, 'US Dollar',        100000000,  500000000, 600),
  ('EUR', 2, 'Euro',             100000000,  500000000, 600),
  ('GBP', 2, 'Pound Sterling',   100000000,  500000000, 600),
  ('JPY', 0, 'Yen',              100000000,  500000000, 600),
  ('KWD', 3, 'Kuwaiti Dinar',    300000000, 1500000000, 600);

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

alter table loans_private.loan_status_transitions disable trigger loan_status_transitions_are_fixed;
insert into loans_private.loan_status_transitions (from_status, to_status) values
  ('pending', 'active'),
  ('pending', 'rejected'),
  ('pending', 'withdrawn'),
  ('active', 'overdue'),
  ('overdue', 'active'),
  ('active', 'paid_off'),
  ('overdue', 'paid_off'),
  ('active', 'written_off'),
  ('overdue', 'written_off');
alter table loans_private.loan_status_transitions enable trigger loan_status_transitions_are_fixed;

insert into private.bank_settings (timezone) values ('UTC');
