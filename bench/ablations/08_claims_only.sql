-- Ablation: no database change; its pgbench script (08_claims_only.pgbench.sql)
-- calls private.transfer_funds as the connecting superuser with only the JWT
-- claims set: no role switch, no public wrapper.
select 1;
