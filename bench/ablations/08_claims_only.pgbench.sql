-- pgbench script for 08_claims_only.sql: the ledger's script (sql/bench/transfer_funds.sql)
-- without the role switch and the public invoker wrapper.
\set src random(1 + :hot, :accounts)
\set dst random(1, :accounts - 1)
\set dst case when :hot = 1 then 1 when :dst >= :src then :dst + 1 else :dst end
select private.transfer_funds(s.account_id, d.account_id, 0.01, :currency, gen_random_uuid()::text, null)
  from bench_fixture.accounts as s
  join bench_fixture.accounts as d on d.n = :dst
  cross join lateral (select set_config('request.jwt.claims', s.claims, true) offset 0) as claims_set
 where s.n = :src;
