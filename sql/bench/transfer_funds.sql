-- pgbench script: public.transfer_funds called as a user, one statement per
-- transaction, like for like with the minimal yardstick (one statement, an
-- implicit transaction). The statement looks the two accounts up by number in
-- bench_fixture.accounts (sql/bench/setup.sql, which make bench runs too),
-- sets the sender's JWT claims and the `authenticated` role
-- transaction-locally with set_config(..., true) in a subquery fenced by
-- `offset 0` (evaluated before the call), then calls the RPC with a fresh
-- idempotency key. The claims are set per transaction and vanish at its end;
-- functions called after the fence run as `authenticated` with auth.uid() =
-- the sender (tests/integration/test_ledger_hot_account.py proves both).
-- PostgREST sends the same work as a setup statement plus the call; the extra
-- round trips are PostgREST's cost and are measured by its own scenario.
-- Variables: :accounts, :currency (XTS), :hot (1: every transfer credits
-- account 1 from a random other account; 0: both sides uniform).
--   pgbench -n -M prepared -c 16 -j 2 -T 15 -D accounts=1000 -D currency=XTS -D hot=0 \
--           -f sql/bench/transfer_funds.sql
\set src random(1 + :hot, :accounts)
\set dst random(1, :accounts - 1)
\set dst case when :hot = 1 then 1 when :dst >= :src then :dst + 1 else :dst end
select public.transfer_funds(s.account_id, d.account_id, 0.01, :currency, gen_random_uuid()::text)
  from bench_fixture.accounts as s
  join bench_fixture.accounts as d on d.n = :dst
  cross join lateral (
    select set_config('request.jwt.claims', s.claims, true),
           set_config('role', 'authenticated', true)
    offset 0
  ) as claims_set
 where s.n = :src;
