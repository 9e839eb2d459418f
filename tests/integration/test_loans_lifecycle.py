"""A loan's life through the RPCs, and every transition the database refuses.

Customers apply, withdraw and repay with their own token on PostgREST; an
admin approves, rejects and writes off. After every step the ledger and loan
invariants in sql/checks hold.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

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
    ledger_counts,
    loan_row,
    make_product,
    open_account,
    rpc,
    rpc_ok,
    snapshot,
    system_account,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def borrower(make_user: Callable[..., User]) -> User:
    return make_user()


@pytest.fixture
def admin(make_user: Callable[..., User]) -> User:
    return make_user(role="admin")


def _apply(rest: RestFactory, user: User, account_id: str, **overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "p_account_id": account_id,
        "p_principal": "1200.00",
        "p_currency": "USD",
        "p_term_months": 3,
        **overrides,
    }
    return rpc_ok(rest(user.token), "loan_apply", **params)  # type: ignore[no-any-return]


def test_loan_goes_from_application_to_paid_off_keeping_every_invariant(
    pg: psycopg.Connection[Any], rest: RestFactory, borrower: User, admin: User
) -> None:
    account = open_account(pg, borrower.id)
    funding = system_account(pg, "loan_funding", "USD")
    funding_before = balance(pg, funding)

    loan = _apply(rest, borrower, account, p_purpose="a bicycle")
    assert loan["status"] == "pending"
    assert loan["principal"] == 120_000
    assert loan["outstanding_principal"] == 0
    assert [row["number"] for row in loan["schedule"]] == [1, 2, 3]
    assert sum(row["principal"] for row in loan["schedule"]) == 120_000
    assert_invariants(pg)

    approved = rpc_ok(rest(admin.token), "admin_loan_approve", p_loan_id=loan["id"])
    assert approved["status"] == "active"
    assert approved["outstanding_principal"] == 120_000
    assert balance(pg, account) == 120_000
    assert balance(pg, funding) == funding_before - 120_000
    today = db_today(pg)
    assert approved["schedule"][0]["due_date"] > str(today)
    assert_invariants(pg)

    deposit(pg, account, 10_000)  # enough for the interest
    # A month on: installment 1 falls due today, so paying it now is on time.
    shift = dt.date.fromisoformat(approved["schedule"][0]["due_date"]) - today
    backdate_loan(pg, loan["id"], shift.days)
    schedule = [
        {**row, "due_date": str(dt.date.fromisoformat(row["due_date"]) - shift)}
        for row in approved["schedule"]
    ]
    borrower_rest = rest(borrower.token)

    # Installment 1 on time: its interest and principal.
    first = rpc_ok(
        borrower_rest, "loan_repay", p_loan_id=loan["id"],
        p_amount=f"{schedule[0]['total'] / 100:.2f}", p_from_account_id=account,
        p_idempotency_key=f"{loan['id']}-1",
    )  # fmt: skip
    assert first["replayed"] is False
    assert first["allocation"]["current_interest"] == schedule[0]["interest"]
    assert first["allocation"]["current_principal"] == schedule[0]["principal"]
    assert first["loan"]["schedule"][0]["status"] == "paid"
    assert_invariants(pg)

    # Installment 2 late: the close of business after its due date marks it.
    due_2 = dt.date.fromisoformat(schedule[1]["due_date"])
    pg.execute("select public.loans_close_of_business(%s)", (due_2 + dt.timedelta(days=11),))
    assert loan_row(pg, loan["id"])["status"] == "overdue"
    assert_invariants(pg)
    second = rpc_ok(
        borrower_rest, "loan_repay", p_loan_id=loan["id"],
        p_amount=f"{schedule[1]['total'] / 100:.2f}", p_from_account_id=account,
        p_idempotency_key=f"{loan['id']}-2",
    )  # fmt: skip
    assert second["allocation"]["past_due_interest"] == schedule[1]["interest"]
    assert second["allocation"]["past_due_principal"] == schedule[1]["principal"]
    assert second["loan"]["status"] == "active"
    assert_invariants(pg)

    # The rest at once: the payoff quote for today, then exactly that.
    quote = rpc_ok(borrower_rest, "loan_payoff_quote", p_loan_id=loan["id"], p_date=str(today))
    assert quote == {"loan_id": loan["id"], "amount": schedule[2]["principal"],
                     "currency": "USD", "date": str(today)}  # fmt: skip
    rpc_ok(
        borrower_rest, "loan_repay", p_loan_id=loan["id"],
        p_amount=f"{quote['amount'] / 100:.2f}", p_from_account_id=account,
        p_idempotency_key=f"{loan['id']}-3",
    )  # fmt: skip
    assert_invariants(pg)

    final = loan_row(pg, loan["id"])
    assert final["status"] == "paid_off"
    assert final["outstanding_principal"] == 0
    assert final["closed_at"] is not None
    assert {row["status"] for row in installments(pg, loan["id"])} == {"paid"}
    assert balance(pg, funding) == funding_before
    interest = schedule[0]["interest"] + schedule[1]["interest"]
    assert balance(pg, system_account(pg, "loan_interest_income", "USD")) >= interest
    assert balance(pg, account) == 120_000 + 10_000 - 120_000 - interest


def test_application_without_a_product_uses_the_currency_default(
    pg: psycopg.Connection[Any], rest: RestFactory, borrower: User
) -> None:
    account = open_account(pg, borrower.id)
    loan = _apply(rest, borrower, account)
    row = pg.execute(
        "select is_default, currency, annual_rate_bps from public.loan_products where id = %s",
        (loan["product_id"],),
    ).fetchone()
    assert row == (True, "USD", loan["annual_rate_bps"])


@pytest.mark.parametrize(
    ("overrides", "sqlstate", "fragment"),
    [
        ({"p_principal": "99.99"}, "BK009", "(99.99 USD) is outside loan product"),
        ({"p_principal": "100000.01"}, "BK009", "range 100.00 USD to 100000.00 USD"),
        ({"p_principal": "100.001"}, "BK009", "has more decimals than USD allows (at most 2)"),
        ({"p_principal": "-5"}, "BK009", "greater than zero"),
        ({"p_term_months": 361}, "BK009", "outside loan product"),
        ({"p_term_months": 0}, "BK009", "at least 1"),
        ({"p_currency": "EUR"}, "BK002", "is in USD"),
        ({"p_currency": "XXX"}, "BK009", "not supported"),
        ({"p_product_id": "00000000-0000-0000-0000-000000000000"}, "BK005", "not found"),
    ],
)
def test_application_outside_the_rules_is_refused_and_writes_nothing(
    pg: psycopg.Connection[Any],
    rest: RestFactory,
    borrower: User,
    overrides: dict[str, Any],
    sqlstate: str,
    fragment: str,
) -> None:
    account = open_account(pg, borrower.id)
    params = {"p_account_id": account, "p_principal": "1200.00", "p_currency": "USD",
              "p_term_months": 12, **overrides}  # fmt: skip
    before = pg.execute("select count(*) from public.loans").fetchone()
    response = rpc(rest(borrower.token), "loan_apply", **params)
    assert response.status_code >= 400
    assert response.json()["code"] == sqlstate
    assert fragment in response.json()["message"]
    assert pg.execute("select count(*) from public.loans").fetchone() == before


def test_application_into_another_customers_account_is_not_found(
    pg: psycopg.Connection[Any], rest: RestFactory, make_user: Callable[..., User]
) -> None:
    owner, other = make_user(), make_user()
    account = open_account(pg, owner.id)
    response = rpc(
        rest(other.token), "loan_apply",
        p_account_id=account, p_principal="500", p_currency="USD", p_term_months=6,
    )  # fmt: skip
    assert response.json()["code"] == "BK005"
    assert f"account (id={account}) not found" in response.json()["message"]


def test_borrower_withdraws_a_pending_application(
    pg: psycopg.Connection[Any], rest: RestFactory, borrower: User
) -> None:
    loan = _apply(rest, borrower, open_account(pg, borrower.id))
    withdrawn = rpc_ok(rest(borrower.token), "loan_withdraw", p_loan_id=loan["id"])
    assert withdrawn["status"] == "withdrawn"
    assert_invariants(pg)


def test_admin_rejects_a_pending_application_with_a_reason(
    pg: psycopg.Connection[Any], rest: RestFactory, borrower: User, admin: User
) -> None:
    loan = _apply(rest, borrower, open_account(pg, borrower.id))
    rejected = rpc_ok(
        rest(admin.token), "admin_loan_reject", p_loan_id=loan["id"], p_reason="income too low"
    )
    assert rejected["status"] == "rejected"
    assert rejected["decision_reason"] == "income too low"


def test_customer_cannot_approve_reject_or_write_off(
    pg: psycopg.Connection[Any], rest: RestFactory, borrower: User
) -> None:
    loan = _apply(rest, borrower, open_account(pg, borrower.id))
    before = snapshot(pg, loan["id"])
    for name in ("admin_loan_approve", "admin_loan_reject", "admin_loan_write_off"):
        response = rpc(rest(borrower.token), name, p_loan_id=loan["id"])
        assert response.json()["code"] == "BK010", name
        assert "is for bank staff only" in response.json()["message"]
    assert snapshot(pg, loan["id"]) == before


def test_user_metadata_saying_admin_does_not_make_an_admin(
    pg: psycopg.Connection[Any], rest: RestFactory, make_user: Callable[..., User]
) -> None:
    sneaky = make_user(user_metadata={"role": "admin"})
    loan = _apply(rest, sneaky, open_account(pg, sneaky.id))
    response = rpc(rest(sneaky.token), "admin_loan_approve", p_loan_id=loan["id"])
    assert response.json()["code"] == "BK010"
    assert loan_row(pg, loan["id"])["status"] == "pending"


def test_repaying_a_pending_loan_is_refused_and_writes_nothing_to_the_ledger(
    pg: psycopg.Connection[Any], rest: RestFactory, borrower: User
) -> None:
    account = open_account(pg, borrower.id)
    deposit(pg, account, 50_000)
    loan = _apply(rest, borrower, account)
    before = snapshot(pg, loan["id"])
    response = rpc(
        rest(borrower.token), "loan_repay",
        p_loan_id=loan["id"], p_amount="10.00", p_from_account_id=account,
        p_idempotency_key="repay-pending",
    )  # fmt: skip
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "BK011"
    assert body["message"] == f"loan (id={loan['id']}) is pending, cannot repay"
    assert snapshot(pg, loan["id"]) == before
    assert balance(pg, account) == 50_000


def test_approving_a_rejected_loan_is_refused_and_writes_nothing(
    pg: psycopg.Connection[Any], rest: RestFactory, borrower: User, admin: User
) -> None:
    loan = _apply(rest, borrower, open_account(pg, borrower.id))
    rpc_ok(rest(admin.token), "admin_loan_reject", p_loan_id=loan["id"])
    before = snapshot(pg, loan["id"])
    response = rpc(rest(admin.token), "admin_loan_approve", p_loan_id=loan["id"])
    assert response.status_code == 400 or response.status_code == 409
    assert response.json()["code"] == "BK011"
    assert response.json()["message"] == f"loan (id={loan['id']}) is rejected, cannot approve"
    assert snapshot(pg, loan["id"]) == before


def test_withdrawing_an_active_loan_is_refused_and_writes_nothing(
    pg: psycopg.Connection[Any], rest: RestFactory, borrower: User, admin: User
) -> None:
    loan = _apply(rest, borrower, open_account(pg, borrower.id))
    rpc_ok(rest(admin.token), "admin_loan_approve", p_loan_id=loan["id"])
    before = snapshot(pg, loan["id"])
    response = rpc(rest(borrower.token), "loan_withdraw", p_loan_id=loan["id"])
    assert response.json()["code"] == "BK011"
    assert response.json()["message"] == f"loan (id={loan['id']}) is active, cannot withdraw"
    assert snapshot(pg, loan["id"]) == before


def test_another_customer_cannot_withdraw_or_repay_my_loan(
    pg: psycopg.Connection[Any], rest: RestFactory, borrower: User,
    make_user: Callable[..., User],
) -> None:  # fmt: skip
    other = make_user()
    other_account = open_account(pg, other.id)
    deposit(pg, other_account, 10_000)
    loan = _apply(rest, borrower, open_account(pg, borrower.id))
    before = snapshot(pg, loan["id"])
    assert rpc(rest(other.token), "loan_withdraw", p_loan_id=loan["id"]).json()["code"] == "BK005"
    repay = rpc(
        rest(other.token), "loan_repay", p_loan_id=loan["id"], p_amount="1",
        p_from_account_id=other_account, p_idempotency_key="not-mine",
    )  # fmt: skip
    assert repay.status_code == 404
    assert repay.json()["code"] == "BK005"
    assert snapshot(pg, loan["id"]) == before


# The dashboard: `postgres` bypasses RLS, so triggers and constraints decide.
@pytest.mark.parametrize(
    ("statement", "fragment"),
    [
        ("update public.loans set status = 'active' where id = %s", "loans_disbursed_iff_transfer"),
        ("update public.loans set status = 'paid_off' where id = %s", "cannot become paid_off"),
        ("update public.loans set principal = principal + 1 where id = %s", "terms of a loan"),
        ("delete from public.loans where id = %s", "cannot be deleted"),
        ("update public.loan_installments set interest_due = 0 where loan_id = %s",
         "only through the loan functions"),
        ("delete from public.loan_installments where loan_id = %s",
         "only through the loan functions"),
    ],
)  # fmt: skip
def test_dashboard_edits_that_would_break_a_loan_are_refused_even_for_postgres(
    pg: psycopg.Connection[Any], rest: RestFactory, borrower: User, statement: str,
    fragment: str,
) -> None:  # fmt: skip
    loan = _apply(rest, borrower, open_account(pg, borrower.id))
    before = snapshot(pg, loan["id"])
    with pytest.raises(psycopg.Error) as raised:
        pg.execute(statement, (loan["id"],))
    assert fragment in str(raised.value)
    assert snapshot(pg, loan["id"]) == before


def test_dashboard_cannot_reopen_a_paid_off_or_withdrawn_loan(
    pg: psycopg.Connection[Any], rest: RestFactory, borrower: User
) -> None:
    loan = _apply(rest, borrower, open_account(pg, borrower.id))
    rpc_ok(rest(borrower.token), "loan_withdraw", p_loan_id=loan["id"])
    with pytest.raises(psycopg.Error) as raised:
        pg.execute("update public.loans set status = 'pending' where id = %s", (loan["id"],))
    assert "is withdrawn, cannot become pending" in str(raised.value)


def test_dashboard_can_reject_a_pending_loan_and_it_is_audited(
    pg: psycopg.Connection[Any], rest: RestFactory, borrower: User
) -> None:
    loan = _apply(rest, borrower, open_account(pg, borrower.id))
    pg.execute("update public.loans set status = 'rejected' where id = %s", (loan["id"],))
    assert loan_row(pg, loan["id"])["status"] == "rejected"
    audited = pg.execute(
        "select count(*) from public.audit_log where row_id = %s and before is not null",
        (loan["id"],),
    ).fetchone()
    assert audited is not None
    assert audited[0] >= 1


def test_nothing_moves_when_a_customer_calls_the_private_functions_directly(
    pg: psycopg.Connection[Any], rest: RestFactory, borrower: User
) -> None:
    counts = ledger_counts(pg)
    response = rest(borrower.token).post(
        "/rpc/post_transfer", headers={"Content-Profile": "loans_private"}, json={}
    )
    assert response.status_code in (404, 406)
    assert ledger_counts(pg) == counts


def test_staff_edit_products_in_the_dashboard_audited_without_changing_existing_loans(
    pg: psycopg.Connection[Any], rest: RestFactory, borrower: User
) -> None:
    product = make_product(pg, "USD", annual_rate_bps=700)
    loan = _apply(rest, borrower, open_account(pg, borrower.id), p_product_id=product)
    pg.execute("update public.loan_products set annual_rate_bps = 800 where id = %s", (product,))
    assert loan_row(pg, loan["id"])["annual_rate_bps"] == 700
    audited = pg.execute(
        "select actor_role, before ->> 'annual_rate_bps', after ->> 'annual_rate_bps'"
        " from public.audit_log where table_name = 'loan_products' and row_id = %s"
        " order by id desc limit 1",
        (product,),
    ).fetchone()
    assert audited == ("postgres", "700", "800")


@pytest.mark.parametrize(
    "statement",
    [
        "insert into loans_private.loan_status_transitions values ('paid_off', 'active')",
        "delete from loans_private.loan_status_transitions",
        "update loans_private.loan_status_transitions set to_status = 'pending'",
    ],
)
def test_the_lifecycle_table_itself_cannot_be_edited_from_the_dashboard(
    pg: psycopg.Connection[Any], statement: str
) -> None:
    with pytest.raises(psycopg.Error) as raised:
        pg.execute(statement)
    assert "loan status transitions are fixed by migrations" in str(raised.value)


def _loan_count(pg: psycopg.Connection[Any], borrower: User) -> int:
    row = pg.execute(
        "select count(*) from public.loans where borrower_id = %s", (borrower.id,)
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_borrower_has_at_most_five_pending_applications(
    pg: psycopg.Connection[Any], rest: RestFactory, borrower: User
) -> None:
    account = open_account(pg, borrower.id)
    pending = [_apply(rest, borrower, account, p_principal="500") for _ in range(5)]
    refused = rpc(rest(borrower.token), "loan_apply", p_account_id=account,
                  p_principal="500", p_currency="USD", p_term_months=3)  # fmt: skip
    assert refused.json()["code"] == "BK007", refused.text
    assert refused.json()["details"] == "max_pending_applications"
    assert "at most 5 loan applications can be pending" in refused.json()["message"]
    assert _loan_count(pg, borrower) == 5
    # A withdrawal frees a slot.
    rpc_ok(rest(borrower.token), "loan_withdraw", p_loan_id=pending[0]["id"])
    assert _apply(rest, borrower, account, p_principal="500")["status"] == "pending"


def test_a_borrower_applies_at_most_twenty_times_in_24_hours_even_when_withdrawing(
    pg: psycopg.Connection[Any], rest: RestFactory, borrower: User
) -> None:
    account = open_account(pg, borrower.id)
    customer = rest(borrower.token)
    for _ in range(20):
        loan = _apply(rest, borrower, account, p_principal="500")
        rpc_ok(customer, "loan_withdraw", p_loan_id=loan["id"])
    refused = rpc(customer, "loan_apply", p_account_id=account, p_principal="500",
                  p_currency="USD", p_term_months=3)  # fmt: skip
    assert refused.json()["code"] == "BK008", refused.text
    assert 86_000 < int(refused.json()["details"]) <= 86_400
    assert _loan_count(pg, borrower) == 20
    # The window is the last 24 hours: once the applications are older, one more fits.
    # (Ageing them bypasses the dashboard guards, which refuse any created_at edit.)
    with pg.transaction():
        pg.execute("set local session_replication_role = replica")
        pg.execute(
            "update public.loans set created_at = now() - interval '25 hours'"
            " where borrower_id = %s",
            (borrower.id,),
        )
    assert _apply(rest, borrower, account, p_principal="500")["status"] == "pending"
