"""The dashboard against every ledger and reference table, whatever it sets.

Bank staff edit tables in the Supabase dashboard as `postgres`, which
bypasses RLS and holds every grant. For every ledger and reference table this
tries an update, a delete and a truncate as `postgres`, in a session that has
switched on every custom setting the schema reads (the old posting flags
`ledger.posting` and `loans.internal`, an admin's `request.jwt.claims`, the
request headers). Each case is refused, or, where the product allows the
edit (an account's status, nickname and overdraft limit; a currency's name; a
loan product; a loan's decision reason; the bank's timezone), it succeeds and
leaves an audit row naming the database role and the row before and after.
Every case runs in its own transaction, rolled back.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from tests.conftest import StackHandle, stack_module

pytestmark = pytest.mark.integration

# The sqlstates of a refusal: a guard trigger (BK011), a value a guard rejects
# (BK009: an unknown timezone), a foreign key that keeps a referenced row
# (23503), a truncate of a referenced table (0A000).
REFUSED = {"BK011", "BK009", "23503", "0A000"}


@dataclass(frozen=True)
class Ledger:
    """Rows in every table, made through the ledger's own functions."""

    customer_id: str
    account_id: str
    deferred_account_id: str
    loan_id: str
    admin_claims: str
    # A pending hold on an account of its own, so the cases above keep their balances.
    hold_account_id: str = ""
    hold_id: str = ""


def _as_user(pg: psycopg.Connection[Any], user_id: str, sql: str, args: list[Any]) -> Any:
    claims = {"sub": user_id, "role": "authenticated", "aud": "authenticated", "app_metadata": {}}
    with pg.transaction():
        pg.execute("select set_config('request.jwt.claims', %s, true)", [json.dumps(claims)])
        row = pg.execute(sql, args).fetchone()
    assert row is not None
    return row[0]


@pytest.fixture(scope="module")
def ledger(stack: StackHandle) -> Iterator[Ledger]:
    config = stack.config
    alice = stack_module.create_user(config, f"matrix-a-{uuid.uuid4().hex[:8]}@example.com")
    bob = stack_module.create_user(config, f"matrix-b-{uuid.uuid4().hex[:8]}@example.com")
    admin = stack_module.create_user(
        config, f"matrix-admin-{uuid.uuid4().hex[:8]}@example.com", admin=True
    )
    open_sql = "select public.open_account('USD', 'checking')"
    with psycopg.connect(stack.pg_dsn, autocommit=True) as pg:
        account = _as_user(pg, str(alice["id"]), open_sql, [])["id"]
        deferred = _as_user(pg, str(bob["id"]), open_sql, [])["id"]
        pg.execute("update public.accounts set deferred_credits = true where id = %s", [deferred])
        pg.execute(
            "select public.admin_deposit(%s, 500.00, 'USD', 'matrix funding', %s)",
            [account, str(uuid.uuid4())],
        )
        _as_user(
            pg, str(alice["id"]),
            "select public.transfer_funds(%s, %s, 1.00, 'USD', %s, 'matrix')",
            [account, deferred, str(uuid.uuid4())],
        )  # fmt: skip
        loan = _as_user(
            pg, str(alice["id"]),
            "select public.loan_apply(%s, 1000.00, 'USD', 12)", [account],
        )["id"]  # fmt: skip
        pg.execute("select public.admin_loan_approve(%s)", [loan])
        _as_user(
            pg, str(alice["id"]),
            "select public.loan_repay(%s, 1.00, %s, %s)", [loan, account, str(uuid.uuid4())],
        )  # fmt: skip
        pg.execute("select public.loans_close_of_business('2000-01-01')")
        hold_account = _as_user(pg, str(alice["id"]), open_sql, [])["id"]
        pg.execute(
            "select public.admin_deposit(%s, 50.00, 'USD', 'matrix hold funding', %s)",
            [hold_account, str(uuid.uuid4())],
        )
        hold = _as_user(
            pg, str(alice["id"]),
            "select public.place_hold(%s, %s, 5.00, 'USD', %s)",
            [hold_account, deferred, str(uuid.uuid4())],
        )["id"]  # fmt: skip
        admin_claims = json.dumps(
            {"sub": str(admin["id"]), "role": "authenticated", "aud": "authenticated",
             "app_metadata": {"role": "admin"}}
        )  # fmt: skip
        yield Ledger(str(alice["id"]), account, deferred, loan, admin_claims, hold_account, hold)
        pg.execute("select public.settle_pending_credits(%s)", [deferred])


def _settings(ledger: Ledger) -> dict[str, str]:
    """Every custom setting the schema reads, switched on."""
    return {
        "ledger.posting": "on",
        "loans.internal": "on",
        "request.jwt.claims": ledger.admin_claims,
        "request.headers": json.dumps({"prefer": "tx=commit"}),
    }


def _attempt(
    pg: psycopg.Connection[Any], ledger: Ledger, sql: str
) -> tuple[str | None, list[tuple[Any, ...]]]:
    """Run `sql` as the dashboard with every setting on; the sqlstate or the audit rows it wrote."""
    try:
        with pg.transaction(force_rollback=True):
            for name, value in _settings(ledger).items():
                pg.execute("select set_config(%s, %s, true)", [name, value])
            last = pg.execute("select coalesce(max(id), 0) from public.audit_log").fetchone()
            assert last is not None
            pg.execute(sql.format(**ledger.__dict__))
            audited = pg.execute(
                "select table_name, row_id, action, db_role, before is distinct from after"
                "  from public.audit_log where id > %s order by id",
                [last[0]],
            ).fetchall()
    except psycopg.Error as error:
        return error.sqlstate, []
    return None, audited


# (table, statement): each must be refused, whatever the session has set.
REFUSED_CASES = [
    ("accounts", "update public.accounts set balance = balance + 100 where id = '{account_id}'"),
    ("accounts", "update public.accounts set version = version + 1 where id = '{account_id}'"),
    ("accounts", "update public.accounts set owner_id = null where id = '{account_id}'"),
    ("accounts", "delete from public.accounts where id = '{account_id}'"),
    ("accounts", "truncate public.accounts cascade"),
    ("entries", "update public.entries set amount = amount * 2 where account_id = '{account_id}'"),
    ("entries", "delete from public.entries where account_id = '{account_id}'"),
    ("entries", "truncate public.entries cascade"),
    (
        "entries",
        "insert into public.entries (transfer_id, account_id, amount, balance_after,"
        " account_version, counterparty_account_id) select transfer_id, account_id, 1,"
        " balance_after + 1, account_version + 1000, counterparty_account_id"
        " from public.entries where account_id = '{account_id}' limit 1",
    ),
    (
        "transfers",
        "update public.transfers set amount = amount + 1 where from_account_id = '{account_id}'",
    ),
    ("transfers", "delete from public.transfers where from_account_id = '{account_id}'"),
    ("transfers", "truncate public.transfers cascade"),
    (
        "transfers",
        "insert into public.transfers (kind, from_account_id, to_account_id, amount,"
        " currency) values ('transfer', '{account_id}', '{deferred_account_id}', 1,"
        " 'USD')",
    ),
    (
        "pending_credits",
        "update public.pending_credits set amount = amount + 1"
        " where account_id = '{deferred_account_id}'",
    ),
    (
        "pending_credits",
        "delete from public.pending_credits where account_id = '{deferred_account_id}'",
    ),
    ("pending_credits", "truncate public.pending_credits"),
    (
        "idempotency_records",
        "update public.idempotency_records set http_status = 422,"
        " transfer_id = null, result = '{{}}'"
        " where caller_id = '{customer_id}'",
    ),
    (
        "idempotency_records",
        "delete from public.idempotency_records where caller_id = '{customer_id}'",
    ),
    ("idempotency_records", "truncate public.idempotency_records"),
    (
        "idempotency_records",
        "insert into public.idempotency_records (caller_id, key,"
        " request_hash, http_status, transfer_id) values ('{customer_id}',"
        " 'planted', '\\x00', 201, gen_random_uuid())",
    ),
    ("currencies", "update public.currencies set exponent = 0 where code = 'USD'"),
    ("currencies", "delete from public.currencies where code = 'USD'"),
    ("currencies", "truncate public.currencies cascade"),
    (
        "transfer_limits",
        "update public.transfer_limits set window_count = 0,"
        " outgoing_minor = 0 where user_id = '{customer_id}'",
    ),
    ("transfer_limits", "delete from public.transfer_limits where user_id = '{customer_id}'"),
    ("transfer_limits", "truncate public.transfer_limits"),
    ("loans", "update public.loans set outstanding_principal = 0 where id = '{loan_id}'"),
    ("loans", "update public.loans set principal = 1 where id = '{loan_id}'"),
    ("loans", "update public.loans set status = 'pending' where id = '{loan_id}'"),
    ("loans", "delete from public.loans where id = '{loan_id}'"),
    ("loans", "truncate public.loans cascade"),
    (
        "loan_installments",
        "update public.loan_installments set principal_paid = principal_due"
        " where loan_id = '{loan_id}'",
    ),
    ("loan_installments", "delete from public.loan_installments where loan_id = '{loan_id}'"),
    ("loan_installments", "truncate public.loan_installments"),
    (
        "loan_repayments",
        "update loans_private.loan_repayments set reply = '{{}}' where loan_id = '{loan_id}'",
    ),
    ("loan_repayments", "delete from loans_private.loan_repayments where loan_id = '{loan_id}'"),
    ("loan_repayments", "truncate loans_private.loan_repayments"),
    (
        "close_of_business_runs",
        "update loans_private.close_of_business_runs set business_date = '1999-01-01'",
    ),
    ("close_of_business_runs", "delete from loans_private.close_of_business_runs"),
    ("close_of_business_runs", "truncate loans_private.close_of_business_runs"),
    (
        "loan_status_transitions",
        "update loans_private.loan_status_transitions"
        " set to_status = 'active' where from_status = 'pending'",
    ),
    ("loan_status_transitions", "delete from loans_private.loan_status_transitions"),
    ("loan_status_transitions", "truncate loans_private.loan_status_transitions"),
    (
        "loan_products",
        "delete from public.loan_products as p using public.loans as l"
        " where l.id = '{loan_id}' and p.id = l.product_id",
    ),
    ("loan_products", "truncate public.loan_products cascade"),
    ("audit_log", "update public.audit_log set actor_role = 'nobody'"),
    ("audit_log", "delete from public.audit_log"),
    ("audit_log", "truncate public.audit_log"),
    (
        "audit_log",
        "insert into public.audit_log (actor_role, table_name, row_id, action)"
        " values ('postgres', 'accounts', 'x', 'update')",
    ),
    ("holds", "update public.holds set status = 'voided' where id = '{hold_id}'"),
    ("holds", "update public.holds set amount = 1 where id = '{hold_id}'"),
    ("holds", "delete from public.holds where id = '{hold_id}'"),
    ("holds", "truncate public.holds cascade"),
    (
        "holds",
        "insert into public.holds (from_account_id, to_account_id, amount, currency, expires_at)"
        " values ('{hold_account_id}', '{account_id}', 1, 'USD', now() + interval '1 day')",
    ),
    ("accounts", "update public.accounts set held_minor = 0 where id = '{hold_account_id}'"),
    ("accounts", "delete from public.accounts where id = '{hold_account_id}'"),
    ("bank_settings", "delete from private.bank_settings"),
    ("bank_settings", "truncate private.bank_settings"),
    ("bank_settings", "update private.bank_settings set timezone = 'Mars/Olympus_Mons'"),
]

# (table, statement, row id): each is allowed, and audited.
AUDITED_CASES = [
    (
        "accounts",
        "update public.accounts set status = 'frozen' where id = '{account_id}'",
        "{account_id}",
    ),
    (
        "accounts",
        "update public.accounts set nickname = 'renamed' where id = '{account_id}'",
        "{account_id}",
    ),
    (
        "accounts",
        "update public.accounts set overdraft_limit = 5000 where id = '{account_id}'",
        "{account_id}",
    ),
    ("currencies", "update public.currencies set name = 'Dollar' where code = 'USD'", "USD"),
    (
        "loans",
        "update public.loans set decision_reason = 'checked' where id = '{loan_id}'",
        "{loan_id}",
    ),
    (
        "loan_products",
        "update public.loan_products as p set annual_rate_bps = 1000"
        " from public.loans as l where l.id = '{loan_id}' and p.id = l.product_id",
        None,
    ),
    ("bank_settings", "update private.bank_settings set timezone = 'Europe/Berlin'", "true"),
    # Staff release a hold through the hold functions; the hold's change is audited.
    ("holds", "select public.void_hold('{hold_id}')", "{hold_id}"),
]


@pytest.mark.parametrize(("table", "sql"), REFUSED_CASES)
def test_the_dashboard_is_refused_whatever_it_sets(
    pg: psycopg.Connection[Any], ledger: Ledger, table: str, sql: str
) -> None:
    sqlstate, _ = _attempt(pg, ledger, sql)
    assert sqlstate in REFUSED, f"{table}: {sql!r} gave {sqlstate}"


@pytest.mark.parametrize(("table", "sql", "row_id"), AUDITED_CASES)
def test_the_dashboard_edits_the_product_allows_are_audited(
    pg: psycopg.Connection[Any], ledger: Ledger, table: str, sql: str, row_id: str | None
) -> None:
    sqlstate, audited = _attempt(pg, ledger, sql)
    assert sqlstate is None, f"{table}: {sql!r} was refused ({sqlstate})"
    rows = [row for row in audited if row[0] == table]
    assert len(rows) == 1, audited
    _table, audited_id, action, db_role, changed = rows[0]
    if row_id is not None:
        assert audited_id == row_id.format(**ledger.__dict__)
    assert (action, db_role, changed) == ("update", "postgres", True)


def test_a_posting_by_the_ledger_still_moves_money_with_the_guards_in_place(
    pg: psycopg.Connection[Any], ledger: Ledger
) -> None:
    """The guards trust the ledger's role: its own functions keep working."""
    before = pg.execute(
        "select balance from public.accounts where id = %s", [ledger.account_id]
    ).fetchone()
    pg.execute(
        "select public.admin_deposit(%s, 2.00, 'USD', 'matrix deposit', %s)",
        [ledger.account_id, str(uuid.uuid4())],
    )
    after = pg.execute(
        "select balance from public.accounts where id = %s", [ledger.account_id]
    ).fetchone()
    assert before is not None
    assert after is not None
    assert after[0] - before[0] == 200


def _refusal(pg: psycopg.Connection[Any], ledger: Ledger, sql: str) -> tuple[str | None, str]:
    """Run `sql` as the dashboard, rolled back; the sqlstate and message of its refusal."""
    try:
        with pg.transaction(force_rollback=True):
            for name, value in _settings(ledger).items():
                pg.execute("select set_config(%s, %s, true)", [name, value])
            pg.execute(sql.format(**ledger.__dict__))
    except psycopg.Error as error:
        return error.sqlstate, error.diag.message_primary or ""
    return None, ""


_EMPTY_THE_ACCOUNT = (
    "select public.admin_withdraw('{account_id}', (select balance / 100.0 from public.accounts"
    " where id = '{account_id}'), 'USD', 'emptied to close', gen_random_uuid()::text);"
)

# (statement, what the refusal says): each refusal names what is refused and the way that works.
ADVISED_CASES = [
    (
        "update public.accounts set balance = balance + 100 where id = '{account_id}'",
        "balances change only through a transfer: use public.admin_deposit"
        " / public.admin_withdraw or public.transfer_funds",
    ),
    (
        "update public.accounts set version = version + 1 where id = '{account_id}'",
        "balances change only through a transfer: use public.admin_deposit",
    ),
    (
        "update public.accounts set currency = 'EUR' where id = '{account_id}'",
        "its currency (USD) never changes, every amount on it is in USD; open a new account",
    ),
    (
        "update public.accounts set owner_id = null, kind = 'system' where id = '{account_id}'",
        "only status, nickname, overdraft_limit and deferred_credits can be edited",
    ),
    (
        "update public.accounts set status = 'closed' where id = '{account_id}'",
        "USD and cannot be closed; move the balance out first (public.admin_withdraw",
    ),
    (
        "update public.accounts set status = 'closed' where id = '{deferred_account_id}'",
        "has pending credits and cannot be closed; settle them first"
        " (public.settle_pending_credits)",
    ),
    (
        _EMPTY_THE_ACCOUNT
        + "update public.accounts set status = 'closed' where id = '{account_id}'",
        "cannot be closed: loan (id={loan_id}) is active on it",
    ),
    (
        "delete from public.accounts where id = '{account_id}'",
        "is part of the ledger's history and cannot be deleted; close it instead",
    ),
    (
        "update public.accounts set held_minor = 0 where id = '{hold_account_id}'",
        "balances change only through a transfer",
    ),
    (
        # No entries yet, only a pending credit: still part of the ledger's history.
        "delete from public.accounts where id = '{deferred_account_id}'",
        "is part of the ledger's history and cannot be deleted",
    ),
]


@pytest.mark.parametrize(("sql", "says"), ADVISED_CASES)
def test_a_dashboard_refusal_names_the_way_that_works(
    pg: psycopg.Connection[Any], ledger: Ledger, sql: str, says: str
) -> None:
    sqlstate, message = _refusal(pg, ledger, sql)
    assert sqlstate == "BK011", (sql, sqlstate, message)
    assert says.format(**ledger.__dict__) in message


def test_an_account_with_nothing_left_on_it_can_be_closed_and_an_unused_one_deleted(
    pg: psycopg.Connection[Any], ledger: Ledger
) -> None:
    with pg.transaction(force_rollback=True):
        row = pg.execute(
            "insert into public.accounts (owner_id, kind, currency)"
            " values (%s, 'savings', 'USD') returning id",
            [ledger.customer_id],
        ).fetchone()
        assert row is not None
        closed = pg.execute(
            "update public.accounts set status = 'closed' where id = %s returning status", [row[0]]
        ).fetchone()
        assert closed == ("closed",)
        assert pg.execute("delete from public.accounts where id = %s", [row[0]]).rowcount == 1
