"""Shared steps of the loan tests: accounts, money, RPC calls, invariant checks.

Kept apart from conftest.py because only the loan tests use them. Customers
act through PostgREST with their own token, as a frontend would; staff act as
an admin token through PostgREST; setup that a bank employee would do in the
dashboard (a product, a deposit) goes through the `pg` connection as
`postgres`.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg

CHECKS_DIR = Path(__file__).resolve().parents[2] / "sql" / "checks"

RestFactory = Callable[[str | None], httpx.Client]


def rpc(client: httpx.Client, name: str, **params: Any) -> httpx.Response:
    return client.post(f"/rpc/{name}", json=params)


def rpc_ok(client: httpx.Client, name: str, **params: Any) -> Any:
    response = rpc(client, name, **params)
    assert response.status_code == 200, response.text
    return response.json()


def open_account(pg: psycopg.Connection[Any], owner_id: str, currency: str = "USD") -> str:
    """A checking account for `owner_id`, opened as the owner would (open_account RPC)."""
    with pg.transaction():
        pg.execute(
            "select set_config('request.jwt.claims', %s, true)",
            (json.dumps({"sub": owner_id, "role": "authenticated"}),),
        )
        row = pg.execute("select public.open_account(%s, 'checking')", (currency,)).fetchone()
    assert row is not None
    return str(row[0]["id"])


def _exponent(pg: psycopg.Connection[Any], currency: str) -> int:
    row = pg.execute(
        "select exponent from public.currencies where code = %s", (currency,)
    ).fetchone()
    assert row is not None
    return int(row[0])


def deposit(pg: psycopg.Connection[Any], account_id: str, amount_minor: int) -> None:
    """Cash in at the counter, as staff do from the dashboard (admin_deposit)."""
    row = pg.execute("select currency from public.accounts where id = %s", (account_id,)).fetchone()
    assert row is not None
    amount = Decimal(amount_minor).scaleb(-_exponent(pg, row[0]))
    result = pg.execute(
        "select public.admin_deposit(%s, %s, %s, 'loan test deposit', %s)",
        (account_id, amount, row[0], f"loan-test-{uuid.uuid4()}"),
    ).fetchone()
    assert result is not None
    assert "id" in result[0], result


def balance(pg: psycopg.Connection[Any], account_id: str) -> int:
    row = pg.execute("select balance from public.accounts where id = %s", (account_id,)).fetchone()
    assert row is not None
    return int(row[0])


def system_account(pg: psycopg.Connection[Any], purpose: str, currency: str) -> str:
    row = pg.execute(
        "select id from public.accounts"
        " where kind = 'system' and system_purpose = %s and currency = %s",
        (purpose, currency),
    ).fetchone()
    assert row is not None
    return str(row[0])


def make_product(pg: psycopg.Connection[Any], currency: str, **terms: Any) -> str:
    values = {
        "name": f"test product {uuid.uuid4().hex[:8]}",
        "currency": currency,
        "min_principal": 1,
        "max_principal": 10**15,
        "min_term_months": 1,
        "max_term_months": 480,
        "annual_rate_bps": 1200,
        "amortization_method": "equal_installments",
        **terms,
    }
    columns = ", ".join(values)
    placeholders = ", ".join(["%s"] * len(values))
    row = pg.execute(
        f"insert into public.loan_products ({columns}) values ({placeholders}) returning id",
        tuple(values.values()),
    ).fetchone()
    assert row is not None
    return str(row[0])


def invariant_violations(pg: psycopg.Connection[Any]) -> dict[str, list[tuple[Any, ...]]]:
    """Every sql/checks/*.sql query returns no rows while its invariant holds."""
    failures: dict[str, list[tuple[Any, ...]]] = {}
    for path in sorted(CHECKS_DIR.glob("*.sql")):
        rows = pg.execute(path.read_text()).fetchall()
        if rows:
            failures[path.name] = rows
    return failures


def assert_invariants(pg: psycopg.Connection[Any]) -> None:
    violations = invariant_violations(pg)
    assert violations == {}, violations


def ledger_counts(pg: psycopg.Connection[Any]) -> tuple[int, int]:
    row = pg.execute(
        "select (select count(*) from public.transfers), (select count(*) from public.entries)"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def loan_row(pg: psycopg.Connection[Any], loan_id: str) -> dict[str, Any]:
    with pg.cursor(row_factory=psycopg.rows.dict_row) as cursor:
        row = cursor.execute("select * from public.loans where id = %s", (loan_id,)).fetchone()
    assert row is not None
    return row


def installments(pg: psycopg.Connection[Any], loan_id: str) -> list[dict[str, Any]]:
    with pg.cursor(row_factory=psycopg.rows.dict_row) as cursor:
        return cursor.execute(
            "select * from public.loan_installments where loan_id = %s order by number",
            (loan_id,),
        ).fetchall()


def db_today(pg: psycopg.Connection[Any]) -> dt.date:
    """The database's current_date, which the loan functions use (not this process's clock)."""
    row = pg.execute("select current_date").fetchone()
    assert row is not None
    return dt.date.fromisoformat(str(row[0]))


def backdate_loan(pg: psycopg.Connection[Any], loan_id: str, days: int) -> None:
    """Moves a fresh loan's dates `days` back, as if disbursed then, so a repayment made today
    falls that far into its schedule (the ledger's own role may edit a loan's dates)."""
    with pg.transaction():
        pg.execute("set local role ledger_owner")
        pg.execute(
            "update public.loans set disbursed_on = disbursed_on - %s::int where id = %s",
            (days, loan_id),
        )
        pg.execute(
            "update public.loan_installments set due_date = due_date - %s::int where loan_id = %s",
            (days, loan_id),
        )


def days_30e_360(start: dt.date, end: dt.date) -> int:
    """30E/360, written from its definition: day 31 counts as 30 at either end."""
    return (
        360 * (end.year - start.year)
        + 30 * (end.month - start.month)
        + (min(end.day, 30) - min(start.day, 30))
    )


def snapshot(pg: psycopg.Connection[Any], loan_id: str) -> tuple[Any, ...]:
    """Everything a refused call must leave unchanged."""
    return (loan_row(pg, loan_id), installments(pg, loan_id), ledger_counts(pg))
