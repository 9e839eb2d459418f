SET local check_function_bodies = off;

DROP TRIGGER "loan_status_transitions_are_fixed" ON "loans_private"."loan_status_transitions";

DROP FUNCTION "loans_private"."refuse_transition_edits"();

CREATE TRIGGER loan_status_transitions_are_fixed
  BEFORE INSERT OR DELETE OR UPDATE OR TRUNCATE ON loans_private.loan_status_transitions
  FOR EACH STATEMENT
  EXECUTE FUNCTION private.refuse_change('loan status transitions are fixed by migrations, not edited');
