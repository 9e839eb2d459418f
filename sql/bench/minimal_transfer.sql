-- pgbench script for the minimal transfer (sql/bench/minimal_setup.sql).
-- Variables: :accounts, :hot (0: both sides uniform random; 1: every transfer
-- credits account 1 from a random other account).
\set src random(1 + :hot, :accounts)
\set dst random(1, :accounts - 1)
\set dst case when :hot = 1 then 1 when :dst >= :src then :dst + 1 else :dst end
select bench_minimal.transfer(:src, :dst, 1, md5(random()::text));
