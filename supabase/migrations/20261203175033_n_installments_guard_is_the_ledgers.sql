SET local check_function_bodies = off;

DROP TRIGGER "loan_installments_guard" ON "public"."loan_installments";

DROP FUNCTION "loans_private"."guard_loan_installments"();

CREATE TRIGGER loan_installments_come_from_loan_functions
  BEFORE INSERT OR DELETE OR UPDATE ON public.loan_installments
  FOR EACH ROW
  WHEN ((CURRENT_USER <> 'ledger_owner'::name))
  EXECUTE FUNCTION private.refuse_change('installments change only through the loan functions');
