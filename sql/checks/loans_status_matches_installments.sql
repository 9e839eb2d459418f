-- Loans whose status contradicts their installments: paid off with something
-- unpaid, open with nothing left to pay, overdue without an overdue
-- installment or active with one; installments settled but not marked paid.
select l.id, l.status,
       count(*) filter (where i.status in ('pending', 'overdue')) as unsettled,
       count(*) filter (where i.status = 'overdue') as overdue
from public.loans as l
join public.loan_installments as i on i.loan_id = l.id
group by l.id
having (l.status = 'paid_off' and count(*) filter (where i.status in ('pending', 'overdue')) > 0)
    or (l.status in ('active', 'overdue') and count(*) filter (where i.status in ('pending', 'overdue')) = 0)
    or (l.status = 'overdue' and count(*) filter (where i.status = 'overdue') = 0)
    or (l.status = 'active' and count(*) filter (where i.status = 'overdue') > 0)
union all
select i.loan_id, 'installment ' || i.number || ' settled but ' || i.status, 0, 0
from public.loan_installments as i
where i.status in ('pending', 'overdue')
  and i.principal_paid = i.principal_due and i.interest_paid = i.interest_due
  and exists (select from public.loans as l where l.id = i.loan_id and l.status <> 'pending');
