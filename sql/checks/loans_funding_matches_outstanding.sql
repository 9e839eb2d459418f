-- Currencies where the bank's loan funding account does not net to minus the
-- principal owed on open loans: disbursements debit it, principal repaid and
-- write-offs credit it back, interest passes through to interest income.
select s.currency, a.balance as funding_balance,
       -coalesce((select sum(l.outstanding_principal) from public.loans as l
                  where l.currency = s.currency and l.status in ('active', 'overdue')), 0) as expected
from public.accounts as a
cross join lateral (select a.currency, a.system_purpose as purpose) as s
where a.kind = 'system' and a.system_purpose = 'loan_funding'
  and a.balance <> -coalesce((select sum(l.outstanding_principal) from public.loans as l
                              where l.currency = s.currency and l.status in ('active', 'overdue')), 0);
