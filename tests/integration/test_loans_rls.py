"""Row-level security of the loan tables, through PostgREST with real tokens.

The matrix: anon, customer A (the borrower), customer B, admin, against
loans, loan_installments and loan_products, for select, insert, update and
delete. Reads: borrowers see their own loans and installments, admins all,
everyone signed in the product catalogue. Writes: nobody, whatever the row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import TestUser as User
from tests.integration.loans_support import RestFactory, open_account, rpc_ok, snapshot

pytestmark = pytest.mark.integration

ROLES = ("anon", "customer_a", "customer_b", "admin")
RETURN_ROWS = {"Prefer": "return=representation"}
PRODUCTS_FINGERPRINT = "select count(*), sum(annual_rate_bps) from public.loan_products"


@pytest.fixture
def world(
    pg: psycopg.Connection[Any], rest: RestFactory, make_user: Callable[..., User]
) -> dict[str, Any]:
    customer_a, customer_b, admin = make_user(), make_user(), make_user(role="admin")
    loan = rpc_ok(
        rest(customer_a.token), "loan_apply", p_account_id=open_account(pg, customer_a.id),
        p_principal="500", p_currency="USD", p_term_months=2,
    )  # fmt: skip
    clients = {
        "anon": rest(None),
        "customer_a": rest(customer_a.token),
        "customer_b": rest(customer_b.token),
        "admin": rest(admin.token),
    }
    return {"loan": loan, "clients": clients}


def _filter(table: str, loan: dict[str, Any]) -> str:
    if table == "loans":
        return f"id=eq.{loan['id']}"
    if table == "loan_installments":
        return f"loan_id=eq.{loan['id']}"
    return f"id=eq.{loan['product_id']}"


# What each role reads of customer A's loan: rows expected, or the refusal status.
SELECT_EXPECTED = {
    "loans": {"anon": 401, "customer_a": 1, "customer_b": 0, "admin": 1},
    "loan_installments": {"anon": 401, "customer_a": 2, "customer_b": 0, "admin": 2},
    "loan_products": {"anon": 401, "customer_a": 1, "customer_b": 1, "admin": 1},
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("table", list(SELECT_EXPECTED))
def test_select_shows_only_what_the_role_may_read(
    world: dict[str, Any], table: str, role: str
) -> None:
    client: httpx.Client = world["clients"][role]
    response = client.get(f"/{table}?{_filter(table, world['loan'])}")
    expected = SELECT_EXPECTED[table][role]
    if expected in (401, 403):
        assert response.status_code == expected, response.text
    else:
        assert response.status_code == 200, response.text
        assert len(response.json()) == expected


def _write(
    client: httpx.Client, table: str, operation: str, loan: dict[str, Any]
) -> httpx.Response:
    where = _filter(table, loan)
    if operation == "insert":
        body: dict[str, Any] = {
            "loans": {"borrower_id": "00000000-0000-0000-0000-000000000000",
                      "account_id": loan["account_id"], "product_id": loan["product_id"],
                      "currency": "USD", "principal": 1, "term_months": 1,
                      "annual_rate_bps": 0, "amortization_method": "equal_installments"},
            "loan_installments": {"loan_id": loan["id"], "number": 3, "due_date": "2030-01-01",
                                  "principal_due": 1, "interest_due": 0},
            "loan_products": {"name": "free money", "currency": "USD", "min_principal": 1,
                              "max_principal": 10**12, "min_term_months": 1,
                              "max_term_months": 480, "annual_rate_bps": 0},
        }[table]  # fmt: skip
        return client.post(f"/{table}", json=body)
    if operation == "update":
        changes: dict[str, dict[str, Any]] = {
            "loans": {"status": "paid_off", "outstanding_principal": 0},
            "loan_installments": {"principal_paid": 1},
            "loan_products": {"annual_rate_bps": 0},
        }
        return client.patch(f"/{table}?{where}", json=changes[table], headers=RETURN_ROWS)
    return client.delete(f"/{table}?{where}", headers=RETURN_ROWS)


@pytest.mark.parametrize("operation", ["insert", "update", "delete"])
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("table", list(SELECT_EXPECTED))
def test_no_role_writes_loan_tables_through_postgrest(
    pg: psycopg.Connection[Any], world: dict[str, Any], table: str, role: str, operation: str
) -> None:
    loan = world["loan"]
    before = snapshot(pg, loan["id"])
    products_before = pg.execute(PRODUCTS_FINGERPRINT).fetchone()
    response = _write(world["clients"][role], table, operation, loan)
    assert response.status_code == (401 if role == "anon" else 403), response.text
    assert snapshot(pg, loan["id"]) == before
    assert pg.execute(PRODUCTS_FINGERPRINT).fetchone() == products_before
