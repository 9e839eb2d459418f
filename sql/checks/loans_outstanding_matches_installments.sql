-- Loans whose outstanding principal differs from the principal still owed in
-- their installments (disbursed loans only; an application owes nothing).
select l.id, l.status, l.outstanding_principal,
       coalesce(sum(i.principal_due - i.principal_paid), 0) as owed_in_schedule
from public.loans as l
left join public.loan_installments as i on i.loan_id = l.id
where l.status in ('active', 'overdue', 'paid_off', 'written_off')
group by l.id
having l.outstanding_principal <> coalesce(sum(i.principal_due - i.principal_paid), 0);
