-- Repayments whose ledger transfers do not match them: the repayment transfer
-- must be a loan_repayment of the whole amount into the loan funding account
-- of the loan's currency, and its interest part (when there is one) a
-- loan_repayment of exactly the interest from funding to interest income.
-- Also loan_repayment transfers that belong to no repayment.
select r.transfer_id, r.loan_id, 'repayment transfer does not match' as problem
from loans_private.loan_repayments as r
join public.loans as l on l.id = r.loan_id
join public.transfers as t on t.id = r.transfer_id
where t.kind <> 'loan_repayment' or t.amount <> r.amount or t.currency <> l.currency
   or t.to_account_id <> (select a.id from public.accounts as a
                          where a.kind = 'system' and a.system_purpose = 'loan_funding'
                            and a.currency = l.currency)
union all
select r.transfer_id, r.loan_id, 'interest transfer does not match'
from loans_private.loan_repayments as r
left join public.transfers as i on i.id = r.interest_transfer_id
where (r.interest > 0) <> (r.interest_transfer_id is not null)
   or (r.interest_transfer_id is not null
       and (i.kind <> 'loan_repayment' or i.amount <> r.interest))
union all
select t.id, null, 'loan_repayment transfer without its repayment'
from public.transfers as t
where t.kind = 'loan_repayment'
  and not exists (select from loans_private.loan_repayments as r
                  where r.transfer_id = t.id or r.interest_transfer_id = t.id);
