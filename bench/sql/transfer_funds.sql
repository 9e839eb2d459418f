-- The harness's own pgbench script for public.transfer_funds, called as a user:
-- used until the ledger's sql/bench/transfer_funds.sql lands (see bench/_ledger.py).
-- Per transaction: pick the accounts, set the owner's JWT claims and role as
-- PostgREST does (transaction-local), call the RPC with a fresh idempotency key.
-- Variables: :accounts, :currency, :hot (1: every transfer credits account 1).
\set src random(1 + :hot, :accounts)
\set dst random(1, :accounts - 1)
\set dst case when :hot = 1 then 1 when :dst >= :src then :dst + 1 else :dst end
begin;
select set_config('request.jwt.claims', s.claims, true) as claims_set,
       s.account_id as src_account, d.account_id as dst_account
  from bench_fixture.accounts s, bench_fixture.accounts d
 where s.n = :src and d.n = :dst \gset
select set_config('role', 'authenticated', true);
select public.transfer_funds(:src_account::uuid, :dst_account::uuid, 0.01, :currency, gen_random_uuid()::text);
commit;
