-- The HTTP status of each SQLSTATE the ledger raises or stores (class BK).
--
-- Generated from functions/core/_error_table.py by `make openapi`; edit the table
-- there. private.refuse reads it: a refusal stored under an idempotency key is
-- answered by PostgREST with this status (`response.status`), so the database
-- needs the status the functions give the same SQLSTATE.

create view private.error_statuses as
  select s.sqlstate, s.code, s.http_status::smallint as http_status
  from (values
    ('BK010', 'forbidden', 403),
    ('BK005', 'not_found', 404),
    ('BK004', 'account_inactive', 409),
    ('BK006', 'idempotency_key_reused', 409),
    ('BK011', 'invalid_state', 409),
    ('BK009', 'validation_failed', 422),
    ('BK001', 'insufficient_funds', 422),
    ('BK002', 'currency_mismatch', 422),
    ('BK003', 'same_account', 422),
    ('BK007', 'limit_exceeded', 422),
    ('BK012', 'amount_exceeds_payoff', 422),
    ('BK008', 'rate_limited', 429)
  ) as s (sqlstate, code, http_status);
