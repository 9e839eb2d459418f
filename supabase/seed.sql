-- Demo data: three customers with accounts and some history, and one admin.
--
-- Users are inserted into auth.users as Supabase Auth would for an email
-- signup (the profile trigger makes their profiles). Accounts are opened with
-- fixed ids so demos and docs can name them; they start empty, as any new
-- account must. All history is made by the ledger's own functions: deposits
-- as the dashboard would post them (postgres, no token), transfers as each
-- customer (their JWT claims set as PostgREST sets them). Plain SQL, no psql
-- meta-commands, so `supabase db reset` can run it too.
--
--   alice@example.com  11111111-1111-4111-8111-111111111111
--   bob@example.com    22222222-2222-4222-8222-222222222222
--   carol@example.com  33333333-3333-4333-8333-333333333333
--   admin@example.com  aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa  (app_metadata.role = admin)

insert into auth.users (instance_id, id, aud, role, email, email_confirmed_at,
                        raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
values
  ('00000000-0000-0000-0000-000000000000', '11111111-1111-4111-8111-111111111111',
   'authenticated', 'authenticated', 'alice@example.com', now(),
   '{"provider":"email","providers":["email"]}', '{"full_name":"Alice Example"}', now(), now()),
  ('00000000-0000-0000-0000-000000000000', '22222222-2222-4222-8222-222222222222',
   'authenticated', 'authenticated', 'bob@example.com', now(),
   '{"provider":"email","providers":["email"]}', '{"full_name":"Bob Example"}', now(), now()),
  ('00000000-0000-0000-0000-000000000000', '33333333-3333-4333-8333-333333333333',
   'authenticated', 'authenticated', 'carol@example.com', now(),
   '{"provider":"email","providers":["email"]}', '{"full_name":"Carol Example"}', now(), now()),
  ('00000000-0000-0000-0000-000000000000', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
   'authenticated', 'authenticated', 'admin@example.com', now(),
   '{"provider":"email","providers":["email"],"role":"admin"}', '{"full_name":"Bank Admin"}',
   now(), now())
on conflict (id) do nothing;

insert into public.accounts (id, owner_id, kind, currency, nickname, overdraft_limit)
values
  ('a1000000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111',
   'checking', 'USD', 'Everyday', 50000),
  ('a1000000-0000-4000-8000-000000000002', '11111111-1111-4111-8111-111111111111',
   'savings', 'USD', 'Rainy day', 0),
  ('a1000000-0000-4000-8000-000000000003', '11111111-1111-4111-8111-111111111111',
   'checking', 'EUR', 'Travel', 0),
  ('b2000000-0000-4000-8000-000000000001', '22222222-2222-4222-8222-222222222222',
   'checking', 'USD', null, 0),
  ('b2000000-0000-4000-8000-000000000002', '22222222-2222-4222-8222-222222222222',
   'checking', 'JPY', 'Tokyo', 0),
  ('c3000000-0000-4000-8000-000000000001', '33333333-3333-4333-8333-333333333333',
   'checking', 'USD', null, 0),
  ('c3000000-0000-4000-8000-000000000002', '33333333-3333-4333-8333-333333333333',
   'checking', 'KWD', null, 0)
on conflict (id) do nothing;

do $$
begin
  -- Cash deposits, as staff post them from the dashboard.
  perform public.admin_deposit('a1000000-0000-4000-8000-000000000001', 2500.00, 'USD',
                               'opening deposit', 'seed-deposit-alice-usd');
  perform public.admin_deposit('a1000000-0000-4000-8000-000000000003', 800.00, 'EUR',
                               'opening deposit', 'seed-deposit-alice-eur');
  perform public.admin_deposit('b2000000-0000-4000-8000-000000000001', 1200.00, 'USD',
                               'opening deposit', 'seed-deposit-bob-usd');
  perform public.admin_deposit('b2000000-0000-4000-8000-000000000002', 150000, 'JPY',
                               'opening deposit', 'seed-deposit-bob-jpy');
  perform public.admin_deposit('c3000000-0000-4000-8000-000000000001', 300.00, 'USD',
                               'opening deposit', 'seed-deposit-carol-usd');
  perform public.admin_deposit('c3000000-0000-4000-8000-000000000002', 95.125, 'KWD',
                               'opening deposit', 'seed-deposit-carol-kwd');

  -- Alice's transfers, as Alice.
  perform set_config('request.jwt.claims',
    '{"sub":"11111111-1111-4111-8111-111111111111","role":"authenticated","aud":"authenticated",'
    '"email":"alice@example.com","app_metadata":{"provider":"email","providers":["email"]}}', true);
  perform public.transfer_funds('a1000000-0000-4000-8000-000000000001',
    'a1000000-0000-4000-8000-000000000002', 400.00, 'USD', 'seed-alice-1', 'to savings');
  perform public.transfer_funds('a1000000-0000-4000-8000-000000000001',
    'b2000000-0000-4000-8000-000000000001', 42.50, 'USD', 'seed-alice-2', 'concert tickets');
  perform public.transfer_funds('a1000000-0000-4000-8000-000000000001',
    'c3000000-0000-4000-8000-000000000001', 19.99, 'USD', 'seed-alice-3', 'pizza');

  -- Bob's, as Bob.
  perform set_config('request.jwt.claims',
    '{"sub":"22222222-2222-4222-8222-222222222222","role":"authenticated","aud":"authenticated",'
    '"email":"bob@example.com","app_metadata":{"provider":"email","providers":["email"]}}', true);
  perform public.transfer_funds('b2000000-0000-4000-8000-000000000001',
    'a1000000-0000-4000-8000-000000000001', 10.00, 'USD', 'seed-bob-1', 'my half of the taxi');
  perform public.transfer_funds('b2000000-0000-4000-8000-000000000001',
    'c3000000-0000-4000-8000-000000000001', 75.00, 'USD', 'seed-bob-2', 'rent share');

  -- Carol's, as Carol.
  perform set_config('request.jwt.claims',
    '{"sub":"33333333-3333-4333-8333-333333333333","role":"authenticated","aud":"authenticated",'
    '"email":"carol@example.com","app_metadata":{"provider":"email","providers":["email"]}}', true);
  perform public.transfer_funds('c3000000-0000-4000-8000-000000000001',
    'a1000000-0000-4000-8000-000000000001', 5.00, 'USD', 'seed-carol-1', 'coffee');

  -- A cash withdrawal, back in the dashboard's role.
  perform set_config('request.jwt.claims', '', true);
  perform public.admin_withdraw('b2000000-0000-4000-8000-000000000002', 20000, 'JPY',
                                'ATM', 'seed-withdraw-bob-jpy');
end;
$$;
