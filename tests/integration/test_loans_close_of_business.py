"""The daily close of business, the two-admin race, and write-off."""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import TestUser as User
from tests.integration.loans_support import (
    RestFactory,
    assert_invariants,
    backdate_loan,
    balance,
    db_today,
    deposit,
    installments,
    loan_row,
    make_product,
    open_account,
    rpc,
    rpc_ok,
    snapshot,
    system_account,
)

pytestmark = pytest.mark.integration


def _new_loan(
    pg: psycopg.Connection[Any], rest: RestFactory, make_user: Callable[..., User],
    *, approve: bool = True, currency: str = "USD", principal: str = "1200", term: int = 4,
) -> tuple[User, User, str, dict[str, Any]]:  # fmt: skip
    borrower, admin = make_user(), make_user(role="admin")
    account = open_account(pg, borrower.id, currency)
    product = make_product(pg, currency, annual_rate_bps=600)
    loan = rpc_ok(
        rest(borrower.token), "loan_apply", p_account_id=account, p_principal=principal,
        p_currency=currency, p_term_months=term, p_product_id=product,
    )  # fmt: skip
    if approve:
        loan = rpc_ok(rest(admin.token), "admin_loan_approve", p_loan_id=loan["id"])
    return borrower, admin, account, loan


def _close(pg: psycopg.Connection[Any], business_date: dt.date) -> dict[str, Any]:
    row = pg.execute("select public.loans_close_of_business(%s)", (business_date,)).fetchone()
    assert row is not None
    return dict(row[0])


def test_close_of_business_marks_installments_overdue_day_by_day_and_a_rerun_changes_nothing(
    pg: psycopg.Connection[Any], rest: RestFactory, make_user: Callable[..., User]
) -> None:
    _, _, _, loan = _new_loan(pg, rest, make_user)
    due = [dt.date.fromisoformat(row["due_date"]) for row in loan["schedule"]]
    # Business dates are closed once per database, so each test closes its
    # own: 3 days after a due date marks the same installments as 1 day after.
    day = dt.timedelta(days=3)

    _close(pg, due[0])  # due today, not yet late
    assert [r["status"] for r in installments(pg, loan["id"])] == ["pending"] * 4
    assert loan_row(pg, loan["id"])["status"] == "active"

    _close(pg, due[0] + day)
    assert [r["status"] for r in installments(pg, loan["id"])] == ["overdue"] + ["pending"] * 3
    assert installments(pg, loan["id"])[0]["overdue_since"] == due[0] + day
    assert loan_row(pg, loan["id"])["status"] == "overdue"
    assert_invariants(pg)

    before = snapshot(pg, loan["id"])
    rerun = _close(pg, due[0] + day)
    assert rerun["replayed"] is True
    assert snapshot(pg, loan["id"]) == before

    _close(pg, due[2] + day)
    statuses = [r["status"] for r in installments(pg, loan["id"])]
    assert statuses == ["overdue", "overdue", "overdue", "pending"]
    # The first installment keeps the date it first fell overdue.
    assert installments(pg, loan["id"])[0]["overdue_since"] == due[0] + day

    # An earlier date, closed late, changes nothing either.
    before = snapshot(pg, loan["id"])
    _close(pg, due[1])
    assert snapshot(pg, loan["id"]) == before
    assert_invariants(pg)


def test_close_of_business_leaves_pending_and_closed_loans_alone(
    pg: psycopg.Connection[Any], rest: RestFactory, make_user: Callable[..., User]
) -> None:
    _, _, _, pending = _new_loan(pg, rest, make_user, approve=False)
    before = snapshot(pg, pending["id"])
    _close(pg, db_today(pg) + dt.timedelta(days=400))
    assert snapshot(pg, pending["id"]) == before


def test_close_of_business_is_not_callable_by_customers_or_admin_tokens(
    rest: RestFactory, make_user: Callable[..., User]
) -> None:
    for user in (make_user(), make_user(role="admin")):
        response = rpc(rest(user.token), "loans_close_of_business", p_business_date="2030-01-01")
        assert response.status_code in (401, 403)
    assert rpc(rest(None), "loans_close_of_business", p_business_date="2030-01-01").status_code in (
        401, 403,
    )  # fmt: skip


def test_close_of_business_runs_for_the_service_role(
    stack: Any, pg: psycopg.Connection[Any]
) -> None:
    date = dt.date(2031, 6, 1)
    with httpx.Client(
        base_url=stack.rest_url,
        headers={"apikey": stack.service_key, "Authorization": f"Bearer {stack.service_key}"},
    ) as client:
        body = rpc_ok(client, "loans_close_of_business", p_business_date=str(date))
    assert body["business_date"] == str(date)


def test_two_admins_approving_at_once_disburse_once(
    pg: psycopg.Connection[Any], rest: RestFactory, make_user: Callable[..., User]
) -> None:
    _, admin, account, loan = _new_loan(pg, rest, make_user, approve=False)
    second_admin = make_user(role="admin")
    barrier = threading.Barrier(8)
    results: list[httpx.Response] = []
    lock = threading.Lock()

    def approve(token: str) -> None:
        client = rest(token)
        barrier.wait()
        response = rpc(client, "admin_loan_approve", p_loan_id=loan["id"])
        with lock:
            results.append(response)

    threads = [
        threading.Thread(target=approve, args=(user.token,)) for user in [admin, second_admin] * 4
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(r.status_code for r in results)[0] == 200
    assert [r.status_code for r in results].count(200) == 1
    for refused in (r for r in results if r.status_code != 200):
        assert refused.json()["code"] == "BK011"
        assert "is active, cannot approve" in refused.json()["message"]
    assert balance(pg, account) == 120_000
    disbursements = pg.execute(
        "select count(*) from public.transfers"
        " where kind = 'loan_disbursement' and to_account_id = %s",
        (account,),
    ).fetchone()
    assert disbursements == (1,)
    assert_invariants(pg)


def test_write_off_posts_the_outstanding_principal_to_the_loss_account(
    pg: psycopg.Connection[Any], rest: RestFactory, make_user: Callable[..., User]
) -> None:
    borrower, admin, account, loan = _new_loan(pg, rest, make_user, currency="KWD",
                                               principal="1000.500", term=6)  # fmt: skip
    deposit(pg, account, 100_000)
    # Installment 1 falls due today, so the repayment settles it and prepays the rest.
    due_1 = dt.date.fromisoformat(loan["schedule"][0]["due_date"])
    backdate_loan(pg, loan["id"], (due_1 - db_today(pg)).days)
    rpc_ok(
        rest(borrower.token), "loan_repay", p_loan_id=loan["id"], p_amount="200.250",
        p_from_account_id=account, p_idempotency_key="before-write-off",
    )  # fmt: skip
    outstanding = loan_row(pg, loan["id"])["outstanding_principal"]
    assert outstanding == 1_000_500 - (200_250 - loan["schedule"][0]["interest"])
    losses = system_account(pg, "loan_losses", "KWD")
    losses_before = balance(pg, losses)
    account_before = balance(pg, account)

    written = rpc_ok(rest(admin.token), "admin_loan_write_off", p_loan_id=loan["id"],
                     p_reason="borrower unreachable")  # fmt: skip
    assert written["status"] == "written_off"
    assert written["decision_reason"] == "borrower unreachable"
    assert [row["status"] for row in written["schedule"]] == ["paid"] + ["written_off"] * 5
    assert balance(pg, losses) == losses_before - outstanding
    assert balance(pg, account) == account_before  # the customer's money is not touched
    transfer = pg.execute(
        "select kind, amount, currency from public.transfers where id = %s",
        (written["write_off_transfer_id"],),
    ).fetchone()
    assert transfer == ("loan_write_off", outstanding, "KWD")
    assert_invariants(pg)

    again = rpc(rest(admin.token), "admin_loan_write_off", p_loan_id=loan["id"])
    assert again.json()["code"] == "BK011"
    assert "is written_off, cannot write off" in again.json()["message"]
    repay = rpc(
        rest(borrower.token), "loan_repay", p_loan_id=loan["id"], p_amount="1",
        p_from_account_id=account, p_idempotency_key="after-write-off",
    )  # fmt: skip
    assert repay.status_code == 409
    assert repay.json()["code"] == "BK011"


def test_writing_off_a_pending_loan_is_refused_and_writes_nothing(
    pg: psycopg.Connection[Any], rest: RestFactory, make_user: Callable[..., User]
) -> None:
    _, admin, _, loan = _new_loan(pg, rest, make_user, approve=False)
    before = snapshot(pg, loan["id"])
    response = rpc(rest(admin.token), "admin_loan_write_off", p_loan_id=loan["id"])
    assert response.json()["code"] == "BK011"
    assert response.json()["message"] == f"loan (id={loan['id']}) is pending, cannot write off"
    assert snapshot(pg, loan["id"]) == before


def test_repayments_approvals_write_offs_and_the_close_of_business_at_once_never_deadlock(
    stack: Any, pg: psycopg.Connection[Any], rest: RestFactory, make_user: Callable[..., User]
) -> None:
    """Every loan function locks its loan before any account, the close in loan id order."""
    borrower, admin = make_user(), make_user(role="admin")
    account = open_account(pg, borrower.id)
    deposit(pg, account, 1_000_000)
    product = make_product(pg, "USD", annual_rate_bps=900)

    def new_loan() -> dict[str, Any]:
        loan: dict[str, Any] = rpc_ok(
            rest(borrower.token), "loan_apply", p_account_id=account, p_principal="300",
            p_currency="USD", p_term_months=3, p_product_id=product,
        )  # fmt: skip
        return loan

    active = [rpc_ok(rest(admin.token), "admin_loan_approve", p_loan_id=new_loan()["id"])
              for _ in range(6)]  # fmt: skip
    pending = [new_loan() for _ in range(3)]
    due_1 = dt.date.fromisoformat(active[0]["schedule"][0]["due_date"])
    customer, staff = rest(borrower.token), rest(admin.token)
    service = httpx.Client(
        base_url=stack.rest_url,
        headers={"apikey": stack.service_key, "Authorization": f"Bearer {stack.service_key}"},
    )
    calls: list[Callable[[], httpx.Response]] = [
        functools.partial(
            rpc, customer, "loan_repay", p_loan_id=loan["id"], p_amount="10",
            p_from_account_id=account, p_idempotency_key=f"storm-{loan['id']}-{attempt}",
        )
        for loan in active
        for attempt in range(3)
    ]  # fmt: skip
    calls.append(functools.partial(rpc, staff, "admin_loan_write_off", p_loan_id=active[0]["id"]))
    calls += [functools.partial(rpc, staff, "admin_loan_approve", p_loan_id=loan["id"])
              for loan in pending]  # fmt: skip
    calls.append(functools.partial(
        rpc, service, "loans_close_of_business", p_business_date=str(due_1 + dt.timedelta(days=5))
    ))  # fmt: skip

    barrier = threading.Barrier(len(calls))
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def run(call: Callable[[], httpx.Response]) -> None:
        barrier.wait()
        answer = call()
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    service.close()

    codes = [answer.json().get("code") for answer in answers if answer.status_code != 200]
    assert "40P01" not in codes
    assert "40001" not in codes
    # Only the written-off loan may refuse its repayments, and only as invalid_state.
    assert set(codes) <= {"BK011"}, [answer.text for answer in answers if answer.status_code != 200]
    assert_invariants(pg)
