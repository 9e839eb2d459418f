-- The commit floor: one single-row update per transaction, nothing else.
-- What the hardware commits is the ceiling every transfer design is measured
-- against. Run by bench/run.py against the `bench_floor` table it creates in
-- the bench database (never a migration). Variables: :rows (table size) and
-- :hot (0: a uniform random row; 1: every transaction updates row 1).
\set id random(1, :rows)
\set id case when :hot = 1 then 1 else :id end
update bench_floor.counters set n = n + 1 where id = :id;
