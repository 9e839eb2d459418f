-- pgbench script: public.transfer_funds called as a user, the way PostgREST
-- calls it. Per transaction: pick two accounts of bench_fixture.accounts
-- (sql/bench/setup.sql, or bench/run.py's own fixture), set the sender's JWT
-- claims and the `authenticated` role transaction-locally with set_config(...,
-- true) in one statement as PostgREST does, call the RPC with a fresh idempotency key, commit.
-- Variables: :accounts, :currency (XTS), :hot (1: every transfer credits
-- account 1 from a random other account; 0: both sides uniform).
--   pgbench -n -M prepared -c 16 -j 2 -T 15 -D accounts=1000 -D currency=XTS -D hot=0 \
--           -f sql/bench/transfer_funds.sql
\set src random(1 + :hot, :accounts)
\set dst random(1, :accounts - 1)
\set dst case when :hot = 1 then 1 when :dst >= :src then :dst + 1 else :dst end
begin;
select set_config('request.jwt.claims', s.claims, true) as claims_set,
       set_config('role', 'authenticated', true) as role_set,
       s.account_id as src_account, d.account_id as dst_account
  from bench_fixture.accounts s, bench_fixture.accounts d
 where s.n = :src and d.n = :dst \gset
select public.transfer_funds(:src_account::uuid, :dst_account::uuid, 0.01, :currency, gen_random_uuid()::text);
commit;
