-- Currencies where the interest income account differs from the interest
-- borrowers have paid, and where the loss account differs from minus the
-- principal written off.
select s.currency, s.purpose, a.balance,
       case s.purpose
         when 'loan_interest_income' then
           coalesce((select sum(i.interest_paid) from public.loan_installments as i
                     join public.loans as l on l.id = i.loan_id
                     where l.currency = s.currency), 0)
         else
           -coalesce((select sum(l.outstanding_principal) from public.loans as l
                      where l.currency = s.currency and l.status = 'written_off'), 0)
       end as expected
from public.accounts as a
cross join lateral (select a.currency, a.system_purpose as purpose) as s
where a.kind = 'system' and a.system_purpose in ('loan_interest_income', 'loan_losses')
  and a.balance <> case s.purpose
         when 'loan_interest_income' then
           coalesce((select sum(i.interest_paid) from public.loan_installments as i
                     join public.loans as l on l.id = i.loan_id
                     where l.currency = s.currency), 0)
         else
           -coalesce((select sum(l.outstanding_principal) from public.loans as l
                      where l.currency = s.currency and l.status = 'written_off'), 0)
       end;
