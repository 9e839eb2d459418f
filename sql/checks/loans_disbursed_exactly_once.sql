-- Disbursements that do not match their loan (kind, accounts, amount,
-- currency), and loan transfers of a kind that belongs to one loan but are
-- named by none: a disbursement or write-off happened twice or without a loan.
select 'disbursement does not match loan' as problem, l.id as loan_id, t.id as transfer_id
from public.loans as l
join public.transfers as t on t.id = l.disbursement_transfer_id
where t.kind <> 'loan_disbursement' or t.to_account_id <> l.account_id
   or t.amount <> l.principal or t.currency <> l.currency
   or t.from_account_id <> (select a.id from public.accounts as a
                            where a.kind = 'system' and a.system_purpose = 'loan_funding'
                              and a.currency = l.currency)
union all
select 'loan transfer without its loan', null, t.id
from public.transfers as t
where (t.kind = 'loan_disbursement'
       and not exists (select from public.loans as l where l.disbursement_transfer_id = t.id))
   or (t.kind = 'loan_write_off'
       and not exists (select from public.loans as l where l.write_off_transfer_id = t.id));
