-- Bench users and accounts for sql/bench/transfer_funds.sql: the one fixture
-- make bench (bench/_ledger.py) and a hand run both use.
--   psql -v accounts=1000 -v currency=XTS -f sql/bench/setup.sql
-- XTS (ISO 4217's testing code) is added with limits no run reaches, so the
-- load measures transfers rather than refusals while USD keeps its shipped
-- limits (the smoke test runs in USD, far below them). One user per account
-- with a funded checking account, opened as that user (claims and role set as
-- PostgREST sets them) and funded through the ledger's own functions; and
-- `bench_fixture.accounts` (number, owner, owner's JWT claims, account id) in
-- a schema PostgREST does not expose.
\set ON_ERROR_STOP 1
begin;
insert into public.currencies
  (code, exponent, name, max_transfer_minor, daily_outgoing_limit_minor, transfers_per_minute)
select 'XTS', 2, 'Benchmark money (ISO 4217 testing code)', 100000000,
       900000000000000000, 1000000000
 where :'currency' = 'XTS'
on conflict (code) do nothing;

create schema if not exists bench_fixture;
revoke all on schema bench_fixture from public;
drop table if exists bench_fixture.accounts;
create table bench_fixture.accounts (
  n integer primary key,
  user_id uuid not null,
  email text not null,
  claims text not null,
  account_id uuid
);
insert into bench_fixture.accounts (n, user_id, email, claims)
select n, user_id, email,
       jsonb_build_object('sub', user_id, 'role', 'authenticated', 'aud', 'authenticated',
                          'email', email,
                          'app_metadata', '{"provider":"email","providers":["email"]}'::jsonb,
                          'user_metadata', '{}'::jsonb)::text
  from (select n, gen_random_uuid() as user_id,
               format('bench-%s-%s@bench.example', n, left(md5(random()::text), 8)) as email
          from generate_series(1, :accounts) as n) as made;

insert into auth.users (instance_id, id, aud, role, email, email_confirmed_at,
                        raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
select '00000000-0000-0000-0000-000000000000', user_id, 'authenticated', 'authenticated',
       email, now(), (claims::jsonb) -> 'app_metadata', '{}'::jsonb, now(), now()
  from bench_fixture.accounts;

-- psql does not expand variables inside a dollar-quoted body: pass the currency as a setting.
select set_config('bench.currency', :'currency', true);
do $$
declare
  r record;
  opened jsonb;
begin
  for r in select n, claims from bench_fixture.accounts order by n loop
    perform set_config('request.jwt.claims', r.claims, true);
    perform set_config('role', 'authenticated', true);
    opened := public.open_account(current_setting('bench.currency'), 'checking', 'bench');
    perform set_config('role', 'postgres', true);
    update bench_fixture.accounts set account_id = (opened ->> 'id')::uuid where n = r.n;
  end loop;
  perform set_config('request.jwt.claims', '', true);
end;
$$;

-- 1,000,000 major units per account: no bench run can drain it at 0.01 a time.
select count(public.admin_deposit(account_id, 1000000, :'currency', 'bench funding',
                                  'bench-funding-' || account_id::text))
  from bench_fixture.accounts;
-- The hot pattern credits account 1: flag it for deferred credits (migration 000700), as
-- a bank would flag a high-volume account. For the naive figure (credited row locked until
-- commit), set it back to false and run the hot pattern again; settle with
-- `select public.settle_pending_credits()`.
update public.accounts set deferred_credits = true
 where id = (select account_id from bench_fixture.accounts where n = 1);
commit;
vacuum analyze bench_fixture.accounts;
vacuum analyze public.accounts;
