"""A loan's whole life through the HTTP functions on the real stack.

A customer and an admin call the functions as a frontend and a staff tool
would (`/accounts`, `/admin/deposits`, `/loans`, `/admin/loans`), with the
ledger and loan invariants of sql/checks checked after every step that moves
money, and the refused transitions answered in the error envelope.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import StackHandle
from tests.conftest import TestUser as User
from tests.integration.loans_support import assert_invariants, backdate_loan, db_today

pytestmark = pytest.mark.integration


@pytest.fixture
def http(stack: StackHandle) -> Iterator[Callable[[User], httpx.Client]]:
    clients: list[httpx.Client] = []

    def client(user: User) -> httpx.Client:
        made = httpx.Client(
            base_url=stack.functions_url,
            headers={"Authorization": f"Bearer {user.token}"},
            timeout=15,
        )
        clients.append(made)
        return made

    yield client
    for made in clients:
        made.close()


def _key() -> dict[str, str]:
    return {"Idempotency-Key": f"http-{uuid.uuid4()}"}


def _ok(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    return error


def _funded_account(customer: httpx.Client, staff: httpx.Client, amount: str) -> str:
    account = _ok(customer.post("/accounts", json={"currency": "USD", "kind": "checking"}), 201)
    deposit = {"account_id": account["id"], "amount": amount, "currency": "USD",
               "reference": "loan test"}  # fmt: skip
    _ok(staff.post("/admin/deposits", json=deposit, headers=_key()), 201)
    return str(account["id"])


def test_a_loan_lives_from_application_to_paid_off_through_the_functions(
    pg: psycopg.Connection[Any], http: Callable[[User], httpx.Client],
    make_user: Callable[..., User],
) -> None:  # fmt: skip
    customer, staff = http(make_user()), http(make_user(role="admin"))
    account = _funded_account(customer, staff, "100.00")

    application = {"account_id": account, "principal": "1200.00", "currency": "USD",
                   "term_months": 3, "purpose": "a bicycle"}  # fmt: skip
    loan = _ok(customer.post("/loans", json=application), 201)
    assert loan["status"] == "pending"
    assert loan["principal"] == "1200.00"
    assert [row["number"] for row in loan["schedule"]] == [1, 2, 3]
    loan_path = f"/loans/{loan['id']}"

    # Refused while pending: repaying.
    repay = {"amount": "10.00", "from_account_id": account}
    _refused(customer.post(f"{loan_path}/repayments", json=repay, headers=_key()), 409,
             "invalid_state")  # fmt: skip

    approved = _ok(staff.post(f"/admin/loans/{loan['id']}/approve"), 200)
    assert approved["status"] == "active"
    assert approved["outstanding_principal"] == "1200.00"
    balance = _ok(customer.get(f"/accounts/{account}"), 200)["balance"]
    assert balance == "1300.00"
    assert_invariants(pg)

    # Refused once active: withdrawing, approving again.
    _refused(customer.post(f"{loan_path}/withdraw"), 409, "invalid_state")
    _refused(staff.post(f"/admin/loans/{loan['id']}/approve"), 409, "invalid_state")

    # A month on: installment 1 falls due today, so paying it now is on time.
    today = db_today(pg)
    shift = dt.date.fromisoformat(approved["schedule"][0]["due_date"]) - today
    backdate_loan(pg, loan["id"], shift.days)
    schedule = [
        {**row, "due_date": str(dt.date.fromisoformat(row["due_date"]) - shift)}
        for row in approved["schedule"]
    ]
    first_key = _key()
    first = {"amount": schedule[0]["total"], "from_account_id": account}
    paid = _ok(customer.post(f"{loan_path}/repayments", json=first, headers=first_key), 201)
    assert paid["allocation"]["current_interest"] == schedule[0]["interest"]
    assert paid["loan"]["schedule"][0]["status"] == "paid"
    assert_invariants(pg)
    replay = customer.post(f"{loan_path}/repayments", json=first, headers=first_key)
    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == paid

    # The second installment falls due unpaid; the nightly close marks it.
    due_2 = dt.date.fromisoformat(schedule[1]["due_date"])
    pg.execute("select public.loans_close_of_business(%s)", (due_2 + dt.timedelta(days=17),))
    assert _ok(customer.get(loan_path), 200)["status"] == "overdue"
    second = {"amount": schedule[1]["total"], "from_account_id": account}
    late = _ok(customer.post(f"{loan_path}/repayments", json=second, headers=_key()), 201)
    assert late["allocation"]["past_due_interest"] == schedule[1]["interest"]
    assert late["loan"]["status"] == "active"
    assert_invariants(pg)

    quote = _ok(customer.get(f"{loan_path}/payoff"), 200)
    assert quote == {"amount": schedule[2]["principal"], "currency": "USD",
                     "date": db_today(pg).isoformat()}  # fmt: skip
    too_much = {"amount": str(float(quote["amount"]) + 0.01), "from_account_id": account}
    error = _refused(
        customer.post(f"{loan_path}/repayments", json=too_much, headers=_key()), 422,
        "amount_exceeds_payoff",
    )  # fmt: skip
    assert f"exceeds the payoff amount ({quote['amount']} USD)" in error["message"]
    rest = {"amount": quote["amount"], "from_account_id": account}
    final = _ok(customer.post(f"{loan_path}/repayments", json=rest, headers=_key()), 201)
    assert final["loan"]["status"] == "paid_off"
    assert final["loan"]["outstanding_principal"] == "0.00"
    assert_invariants(pg)

    listed = _ok(customer.get("/loans"), 200)["data"]
    assert [each["id"] for each in listed] == [loan["id"]]
    assert {row["status"] for row in listed[0]["schedule"]} == {"paid"}


def test_rejected_and_written_off_loans_through_the_functions(
    pg: psycopg.Connection[Any], http: Callable[[User], httpx.Client],
    make_user: Callable[..., User],
) -> None:  # fmt: skip
    customer, staff = http(make_user()), http(make_user(role="admin"))
    account = _funded_account(customer, staff, "1.00")
    application = {"account_id": account, "principal": "500", "currency": "USD",
                   "term_months": 12}  # fmt: skip

    rejected = _ok(customer.post("/loans", json=application), 201)
    decided = _ok(staff.post(f"/admin/loans/{rejected['id']}/reject",
                             json={"reason": "income too low"}), 200)  # fmt: skip
    assert decided["status"] == "rejected"
    _refused(staff.post(f"/admin/loans/{rejected['id']}/approve"), 409, "invalid_state")

    lost = _ok(customer.post("/loans", json=application), 201)
    _ok(staff.post(f"/admin/loans/{lost['id']}/approve"), 200)
    _refused(customer.post(f"/admin/loans/{lost['id']}/write-off"), 403, "forbidden")
    written = _ok(staff.post(f"/admin/loans/{lost['id']}/write-off"), 200)
    assert written["status"] == "written_off"
    assert {row["status"] for row in written["schedule"]} == {"written_off"}
    assert_invariants(pg)

    other = http(make_user())
    _refused(other.get(f"/loans/{lost['id']}"), 404, "not_found")
    _refused(other.get(f"/loans/{lost['id']}/payoff"), 404, "not_found")


def test_a_sixth_pending_application_is_refused_with_the_limit(
    http: Callable[[User], httpx.Client], make_user: Callable[..., User]
) -> None:
    customer, staff = http(make_user()), http(make_user(role="admin"))
    account = _funded_account(customer, staff, "10.00")
    application = {"account_id": account, "principal": "500.00", "currency": "USD",
                   "term_months": 3}  # fmt: skip
    for _ in range(5):
        _ok(customer.post("/loans", json=application), 201)
    error = _refused(customer.post("/loans", json=application), 422, "limit_exceeded")
    assert "at most 5 loan applications can be pending" in error["message"]
    assert len(_ok(customer.get("/loans"), 200)["data"]) == 5


def test_a_customer_finds_currencies_and_products_and_staff_page_through_pending_loans(
    http: Callable[[User], httpx.Client], make_user: Callable[..., User]
) -> None:
    customer, staff = http(make_user()), http(make_user(role="admin"))
    currencies = _ok(customer.get("/currencies"), 200)["data"]
    usd = next(row for row in currencies if row["code"] == "USD")
    assert usd["exponent"] == 2
    assert usd["max_transfer"].endswith(".00")
    products = _ok(customer.get("/loans/products"), 200)["data"]
    default = next(row for row in products if row["currency"] == "USD" and row["is_default"])
    assert default["min_principal"] == "100.00"

    account = _funded_account(customer, staff, "1.00")
    application = {"account_id": account, "principal": "150.00", "currency": "USD",
                   "term_months": 3}  # fmt: skip
    applied = [_ok(customer.post("/loans", json=application), 201)["id"] for _ in range(3)]

    seen: list[str] = []
    cursor: str | None = None
    for _ in range(1_000):
        query = f"/admin/loans?status=pending&limit=2{f'&cursor={cursor}' if cursor else ''}"
        page = _ok(staff.get(query), 200)
        assert len(page["data"]) <= 2
        assert all(loan["status"] == "pending" for loan in page["data"])
        seen += [loan["id"] for loan in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)), "a loan appeared on two pages"
    assert [loan_id for loan_id in seen if loan_id in applied] == applied  # oldest first
    _refused(customer.get("/admin/loans"), 403, "forbidden")
