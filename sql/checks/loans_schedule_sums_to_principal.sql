-- Loans whose schedule does not have one installment per month of the term,
-- or whose installments' principal parts do not sum exactly to the principal.
select l.id, l.principal, l.term_months,
       count(i.number) as installments, coalesce(sum(i.principal_due), 0) as scheduled_principal
from public.loans as l
left join public.loan_installments as i on i.loan_id = l.id
group by l.id
having count(i.number) <> l.term_months
    or coalesce(sum(i.principal_due), 0) <> l.principal
    or max(i.number) <> l.term_months;
