"""Repayments: allocation order, partial, late and early payments, payoff, idempotency.

Allocation (see supabase/schemas/72_loan_functions.sql): past-due interest, past-due
principal, the current installment's interest (before its due date only as far
as it has accrued, as the payoff quote counts it) and principal, then
prepayment of principal from the last installment backwards (the term
shortens, and the interest of the installments after the current one is
recomputed on the principal still owed).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import psycopg
import pytest

from tests.conftest import TestUser as User
from tests.integration.loans_support import (
    RestFactory,
    assert_invariants,
    backdate_loan,
    balance,
    days_30e_360,
    db_today,
    deposit,
    installments,
    ledger_counts,
    loan_row,
    make_product,
    open_account,
    rpc,
    rpc_ok,
    snapshot,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def active_loan(
    pg: psycopg.Connection[Any], rest: RestFactory, make_user: Callable[..., User]
) -> tuple[User, str, dict[str, Any]]:
    """A 6-month USD loan of 6,000.00 at 12 %, disbursed today; 1,000.00 more in the account."""
    borrower, admin = make_user(), make_user(role="admin")
    account = open_account(pg, borrower.id)
    deposit(pg, account, 100_000)
    product = make_product(pg, "USD", annual_rate_bps=1200)
    loan = rpc_ok(
        rest(borrower.token), "loan_apply", p_account_id=account, p_principal="6000",
        p_currency="USD", p_term_months=6, p_product_id=product,
    )  # fmt: skip
    loan = rpc_ok(rest(admin.token), "admin_loan_approve", p_loan_id=loan["id"])
    return borrower, account, loan


def _accrued(first_interest: int, start: dt.date, on: dt.date) -> int:
    """The running month's interest accrued by `on`, 30E/360, rounded half up."""
    elapsed = min(30, days_30e_360(start, on))
    return int((Decimal(first_interest) * elapsed / 30).quantize(Decimal(1), ROUND_HALF_UP))


def _repay(rest: RestFactory, user: User, loan_id: str, account: str, amount_minor: int,
           key: str) -> Any:  # fmt: skip
    return rpc_ok(
        rest(user.token), "loan_repay", p_loan_id=loan_id,
        p_amount=str(Decimal(amount_minor) / 100), p_from_account_id=account,
        p_idempotency_key=key,
    )  # fmt: skip


def test_partial_repayment_pays_the_accrued_interest_before_the_principal(
    pg: psycopg.Connection[Any], rest: RestFactory, active_loan: tuple[User, str, dict[str, Any]]
) -> None:
    borrower, account, loan = active_loan
    first = loan["schedule"][0]
    backdate_loan(pg, loan["id"], 10)
    today = db_today(pg)
    accrued = _accrued(first["interest"], today - dt.timedelta(days=10), today)
    assert 0 < accrued < first["interest"]
    paid = _repay(rest, borrower, loan["id"], account, accrued + 100, "partial-1")
    assert paid["allocation"] == {
        "amount": accrued + 100, "interest": accrued, "principal": 100,
        "past_due_interest": 0, "past_due_principal": 0, "current_interest": accrued,
        "current_principal": 100, "prepaid_principal": 0,
    }  # fmt: skip
    row = installments(pg, loan["id"])[0]
    assert (row["interest_paid"], row["principal_paid"], row["status"]) == (
        accrued, 100, "pending",
    )  # fmt: skip
    assert paid["loan"]["outstanding_principal"] == 600_000 - 100
    assert_invariants(pg)


def test_late_repayment_pays_past_due_interest_then_past_due_principal_first(
    pg: psycopg.Connection[Any], rest: RestFactory, active_loan: tuple[User, str, dict[str, Any]]
) -> None:
    borrower, account, loan = active_loan
    schedule = loan["schedule"]
    # Two installments fall due unpaid.
    pg.execute(
        "select public.loans_close_of_business(%s)",
        # Each test closes its own business dates (a date is closed once).
        (dt.date.fromisoformat(schedule[1]["due_date"]) + dt.timedelta(days=2),),
    )
    assert loan_row(pg, loan["id"])["status"] == "overdue"
    interest_due = schedule[0]["interest"] + schedule[1]["interest"]
    paid = _repay(rest, borrower, loan["id"], account, interest_due + 5_000, "late-1")
    assert paid["allocation"]["past_due_interest"] == interest_due
    assert paid["allocation"]["past_due_principal"] == 5_000
    rows = installments(pg, loan["id"])
    first_two_interest = [schedule[0]["interest"], schedule[1]["interest"]]
    assert [r["interest_paid"] for r in rows[:2]] == first_two_interest
    assert [r["principal_paid"] for r in rows[:2]] == [5_000, 0]
    assert paid["loan"]["status"] == "overdue"  # still in arrears
    assert_invariants(pg)

    rest_of_arrears = schedule[0]["principal"] + schedule[1]["principal"] - 5_000
    cleared = _repay(rest, borrower, loan["id"], account, rest_of_arrears, "late-2")
    assert cleared["allocation"]["past_due_principal"] == rest_of_arrears
    assert cleared["loan"]["status"] == "active"
    assert [r["status"] for r in cleared["loan"]["schedule"][:3]] == ["paid", "paid", "pending"]
    assert_invariants(pg)


def test_early_repayment_prepays_the_last_installments_and_shortens_the_term(
    pg: psycopg.Connection[Any], rest: RestFactory, active_loan: tuple[User, str, dict[str, Any]]
) -> None:
    borrower, account, loan = active_loan
    schedule = loan["schedule"]
    # Paid on its due date, the first installment owes its whole month's interest.
    backdate_loan(
        pg, loan["id"], (dt.date.fromisoformat(schedule[0]["due_date"]) - db_today(pg)).days
    )
    extra = schedule[5]["principal"] + 1_000  # all of the last installment and some of the 5th
    amount = schedule[0]["total"] + extra
    paid = _repay(rest, borrower, loan["id"], account, amount, "early-1")
    assert paid["allocation"]["current_interest"] == schedule[0]["interest"]
    assert paid["allocation"]["current_principal"] == schedule[0]["principal"]
    assert paid["allocation"]["prepaid_principal"] == extra

    after = paid["loan"]["schedule"]
    assert after[5]["status"] == "paid"
    assert after[5]["interest"] == 0  # nothing is owed during its month any more
    assert after[4]["principal"] == schedule[4]["principal"]  # principal parts keep their size
    # The interest of installments 2..5 is recomputed on the principal still owed
    # at their start, 12 % * 30/360 = 1 % a month, rounded half up.
    remaining = [schedule[n]["principal"] for n in range(6)]
    remaining[5] = 0
    remaining[4] -= 1_000
    for number in range(1, 5):
        owed = sum(remaining[number:])
        expected = int((Decimal(owed) / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        assert after[number]["interest"] == expected, number
    assert paid["loan"]["outstanding_principal"] == 600_000 - schedule[0]["principal"] - extra
    assert_invariants(pg)


def test_paying_the_payoff_quote_closes_the_loan_without_unaccrued_interest(
    pg: psycopg.Connection[Any], rest: RestFactory, active_loan: tuple[User, str, dict[str, Any]]
) -> None:
    borrower, account, loan = active_loan
    today = db_today(pg)
    quote = rpc_ok(rest(borrower.token), "loan_payoff_quote", p_loan_id=loan["id"])
    # Disbursed today: no day of interest has accrued yet.
    assert quote == {"loan_id": loan["id"], "amount": 600_000, "currency": "USD",
                     "date": str(today)}  # fmt: skip
    before = balance(pg, account)
    paid = _repay(rest, borrower, loan["id"], account, quote["amount"], "payoff")
    assert paid["loan"]["status"] == "paid_off"
    assert paid["allocation"]["interest"] == 0
    assert balance(pg, account) == before - 600_000
    assert_invariants(pg)


def test_payoff_quote_for_a_later_date_adds_interest_accrued_on_30_360(
    rest: RestFactory, active_loan: tuple[User, str, dict[str, Any]]
) -> None:
    borrower, _, loan = active_loan
    schedule = loan["schedule"]
    disbursed = dt.date.fromisoformat(loan["disbursed_on"])
    due_1 = dt.date.fromisoformat(schedule[0]["due_date"])

    def quote(on: dt.date) -> int:
        client = rest(borrower.token)
        body = rpc_ok(client, "loan_payoff_quote", p_loan_id=loan["id"], p_date=str(on))
        return int(body["amount"])

    # On the first due date the whole first month's interest is owed.
    assert quote(due_1) == 600_000 + schedule[0]["interest"]
    # Part way through the month: 30E/360 days over 30 of it, rounded half up.
    for days in (1, 10, 17):
        on = disbursed + dt.timedelta(days=days)
        elapsed = min(30, days_30e_360(disbursed, on))
        expected = (Decimal(schedule[0]["interest"]) * elapsed / 30).quantize(
            Decimal(1), rounding=ROUND_HALF_UP
        )
        assert quote(on) == 600_000 + int(expected), on


@pytest.mark.parametrize("days_before", [1, 400])
def test_a_payoff_quote_for_a_date_before_disbursement_is_a_validation_failure(
    rest: RestFactory, active_loan: tuple[User, str, dict[str, Any]], days_before: int
) -> None:
    borrower, _, loan = active_loan
    disbursed = dt.date.fromisoformat(loan["disbursed_on"])
    on = disbursed - dt.timedelta(days=days_before)
    response = rpc(rest(borrower.token), "loan_payoff_quote", p_loan_id=loan["id"], p_date=str(on))
    assert response.status_code == 400, response.text
    body = response.json()
    assert (body["code"], body["details"]) == ("BK009", "date")
    assert (
        f"date ({on}) is before loan (id={loan['id']}) was disbursed ({disbursed})"
        in (body["message"])
    )
    on_the_day = rpc_ok(
        rest(borrower.token), "loan_payoff_quote", p_loan_id=loan["id"], p_date=str(disbursed)
    )
    assert on_the_day["amount"] == 600_000


@pytest.mark.parametrize("days_since_disbursement", [0, 10, 29])
def test_paying_part_early_then_the_rest_costs_what_paying_off_at_once_does(
    pg: psycopg.Connection[Any],
    rest: RestFactory,
    make_user: Callable[..., User],
    days_since_disbursement: int,
) -> None:
    """1,000.00 at 9 % over 12 months: 200.00 now and the payoff after it, the same day."""
    borrower, admin = make_user(), make_user(role="admin")
    account = open_account(pg, borrower.id)
    deposit(pg, account, 100_000)
    product = make_product(pg, "USD", annual_rate_bps=900)
    applied = rpc_ok(
        rest(borrower.token), "loan_apply", p_account_id=account, p_principal="1000.00",
        p_currency="USD", p_term_months=12, p_product_id=product,
    )  # fmt: skip
    loan = rpc_ok(rest(admin.token), "admin_loan_approve", p_loan_id=applied["id"])
    assert loan["schedule"][0]["interest"] == 750
    backdate_loan(pg, loan["id"], days_since_disbursement)
    today = db_today(pg)
    client = rest(borrower.token)
    at_once = rpc_ok(client, "loan_payoff_quote", p_loan_id=loan["id"])["amount"]
    accrued = _accrued(750, today - dt.timedelta(days=days_since_disbursement), today)
    assert at_once == 100_000 + accrued

    before = balance(pg, account)
    part = _repay(rest, borrower, loan["id"], account, 20_000, "early-part")
    assert part["allocation"]["interest"] == accrued
    rest_of_it = rpc_ok(client, "loan_payoff_quote", p_loan_id=loan["id"])["amount"]
    assert 20_000 + rest_of_it == at_once
    final = _repay(rest, borrower, loan["id"], account, rest_of_it, "early-rest")
    assert final["loan"]["status"] == "paid_off"
    assert balance(pg, account) == before - at_once
    assert_invariants(pg)


def test_repaying_more_than_the_payoff_amount_is_refused_and_writes_nothing(
    pg: psycopg.Connection[Any], rest: RestFactory, active_loan: tuple[User, str, dict[str, Any]]
) -> None:
    borrower, account, loan = active_loan
    before = snapshot(pg, loan["id"])
    response = rpc(
        rest(borrower.token), "loan_repay", p_loan_id=loan["id"], p_amount="6000.01",
        p_from_account_id=account, p_idempotency_key="too-much",
    )  # fmt: skip
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "BK012"
    assert "amount (6000.01 USD) exceeds the payoff amount (6000.00 USD)" in body["message"]
    assert body["details"] == "6000.00"
    assert snapshot(pg, loan["id"]) == before
    # The refusal is stored: the same key and request get the same answer.
    again = rpc(
        rest(borrower.token), "loan_repay", p_loan_id=loan["id"], p_amount="6000.01",
        p_from_account_id=account, p_idempotency_key="too-much",
    )  # fmt: skip
    assert again.status_code == 422
    assert again.json()["code"] == "BK012"
    assert again.json()["replayed"] is True


def test_repayment_without_enough_money_is_refused_and_stored(
    pg: psycopg.Connection[Any], rest: RestFactory, make_user: Callable[..., User],
    active_loan: tuple[User, str, dict[str, Any]],
) -> None:  # fmt: skip
    borrower, _, loan = active_loan
    empty = open_account(pg, borrower.id)
    before = snapshot(pg, loan["id"])
    response = rpc(
        rest(borrower.token), "loan_repay", p_loan_id=loan["id"], p_amount="10",
        p_from_account_id=empty, p_idempotency_key="broke",
    )  # fmt: skip
    assert response.status_code == 422
    assert response.json()["code"] == "BK001"
    assert snapshot(pg, loan["id"]) == before


def test_a_replayed_refusal_answers_the_stored_refusal_after_the_account_is_funded(
    pg: psycopg.Connection[Any], rest: RestFactory, active_loan: tuple[User, str, dict[str, Any]]
) -> None:
    borrower, _, loan = active_loan
    empty = open_account(pg, borrower.id)
    call = {
        "p_loan_id": loan["id"], "p_amount": "10", "p_from_account_id": empty,
        "p_idempotency_key": "broke-then-paid",
    }  # fmt: skip
    first = rpc(rest(borrower.token), "loan_repay", **call)
    assert (first.status_code, first.json()["replayed"]) == (422, False)
    deposit(pg, empty, 100_000)
    before, counts = snapshot(pg, loan["id"]), ledger_counts(pg)
    again = rpc(rest(borrower.token), "loan_repay", **call)
    assert again.status_code == 422
    assert again.json() == {**first.json(), "replayed": True}
    assert again.json()["code"] == "BK001"
    assert (snapshot(pg, loan["id"]), ledger_counts(pg)) == (before, counts)


def test_repayment_amount_with_too_many_decimals_is_a_validation_error(
    pg: psycopg.Connection[Any], rest: RestFactory, active_loan: tuple[User, str, dict[str, Any]]
) -> None:
    borrower, account, loan = active_loan
    response = rpc(
        rest(borrower.token), "loan_repay", p_loan_id=loan["id"], p_amount="1.001",
        p_from_account_id=account, p_idempotency_key="decimals",
    )  # fmt: skip
    assert response.json()["code"] == "BK009"
    assert response.json()["details"] == "amount"


def test_replay_with_the_same_key_returns_the_first_result_and_moves_nothing(
    pg: psycopg.Connection[Any], rest: RestFactory, active_loan: tuple[User, str, dict[str, Any]]
) -> None:
    borrower, account, loan = active_loan
    first = _repay(rest, borrower, loan["id"], account, 10_000, "same-key")
    counts = ledger_counts(pg)
    again = _repay(rest, borrower, loan["id"], account, 10_000, "same-key")
    assert again["replayed"] is True
    assert {k: v for k, v in again.items() if k != "replayed"} == {
        k: v for k, v in first.items() if k != "replayed"
    }
    assert ledger_counts(pg) == counts


def test_same_key_with_a_different_amount_is_a_conflict(
    pg: psycopg.Connection[Any], rest: RestFactory, active_loan: tuple[User, str, dict[str, Any]]
) -> None:
    borrower, account, loan = active_loan
    _repay(rest, borrower, loan["id"], account, 10_000, "reused")
    counts = ledger_counts(pg)
    response = rpc(
        rest(borrower.token), "loan_repay", p_loan_id=loan["id"], p_amount="200",
        p_from_account_id=account, p_idempotency_key="reused",
    )  # fmt: skip
    assert response.json()["code"] == "BK006"
    assert ledger_counts(pg) == counts


def test_concurrent_repayments_with_one_key_make_one_repayment(
    pg: psycopg.Connection[Any], rest: RestFactory, active_loan: tuple[User, str, dict[str, Any]]
) -> None:
    borrower, account, loan = active_loan
    backdate_loan(pg, loan["id"], 10)  # interest has accrued, so a repayment has an interest part
    counts = ledger_counts(pg)
    start = balance(pg, account)

    def attempt(_: int) -> Any:
        client = rest(borrower.token)
        return rpc(
            client, "loan_repay", p_loan_id=loan["id"], p_amount="150.00",
            p_from_account_id=account, p_idempotency_key="one-key-many-callers",
        ).json()  # fmt: skip

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(attempt, range(12)))
    transfer_ids = {result["transfer"]["id"] for result in results}
    assert len(transfer_ids) == 1
    assert sorted(result["replayed"] for result in results) == [False] + [True] * 11
    assert balance(pg, account) == start - 15_000
    transfers, _ = ledger_counts(pg)
    assert transfers - counts[0] == 2  # the repayment and its interest part
    assert_invariants(pg)


def test_a_repayment_counts_credits_still_pending_on_a_deferred_credit_account(
    pg: psycopg.Connection[Any], rest: RestFactory, active_loan: tuple[User, str, dict[str, Any]]
) -> None:
    borrower, account, loan = active_loan
    receiving = open_account(pg, borrower.id)
    pg.execute("update public.accounts set deferred_credits = true where id = %s", (receiving,))
    moved = rpc(
        rest(borrower.token), "transfer_funds", p_from_account_id=account,
        p_to_account_id=receiving, p_amount="50.00", p_currency="USD",
        p_idempotency_key=f"to-deferred-{loan['id']}",
    )  # fmt: skip
    assert moved.status_code == 200, moved.text
    assert balance(pg, receiving) == 0  # the credit waits in pending_credits

    paid = _repay(rest, borrower, loan["id"], receiving, 5_000, "from-deferred")
    assert paid["allocation"]["amount"] == 5_000
    assert balance(pg, receiving) == 0
    assert_invariants(pg)
