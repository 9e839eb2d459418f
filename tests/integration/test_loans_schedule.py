"""The amortization schedule, checked against an independent computation.

The expectations come from `expected_schedule` below, written from the rules
in supabase/schemas/71_loans.sql with Python's decimal
and calendar, never by calling the SQL. Cases cover both methods, 0- and
3-decimal currencies (the schedule works in minor units, so only the size of
the numbers changes), 1- and 360-month terms and a zero rate. The schedule is
read both straight from the SQL function and from `loan_apply`, the RPC a
customer calls.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any, NamedTuple

import psycopg
import pytest

from tests.conftest import TestUser as User
from tests.integration.loans_support import RestFactory, make_product, open_account, rpc_ok

pytestmark = pytest.mark.integration


class Installment(NamedTuple):
    number: int
    due_date: dt.date
    principal: int
    interest: int


def _round_half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _add_months(start: dt.date, months: int) -> dt.date:
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return dt.date(year, month, day)


def expected_schedule(
    principal: int, rate_bps: int, term: int, method: str, start: dt.date
) -> list[Installment]:
    """30/360: each month is 30 days of a 360-day year; half-up rounding to minor units."""
    with localcontext() as context:
        context.prec = 80
        monthly_rate = Decimal(rate_bps) * 30 / (360 * 10000)
        if method == "equal_installments" and rate_bps > 0:
            growth = (1 + monthly_rate) ** term
            payment = _round_half_up(principal * monthly_rate * growth / (growth - 1))
        else:
            payment = _round_half_up(Decimal(principal) / term)
        balance = principal
        rows = []
        for number in range(1, term + 1):
            interest = _round_half_up(Decimal(balance * rate_bps * 30) / Decimal(360 * 10000))
            if number == term:
                part = balance
            elif method == "equal_installments":
                part = min(max(payment - interest, 0), balance)
            else:
                part = min(payment, balance)
            balance -= part
            rows.append(Installment(number, _add_months(start, number), part, interest))
        return rows


ANNUITY, EQUAL_PRINCIPAL = "equal_installments", "equal_principal"
CASES = [
    # principal (minor units), rate bps, term, method, start
    pytest.param(1_000_000, 1200, 12, ANNUITY, dt.date(2026, 1, 31), id="usd-annuity-12m"),
    pytest.param(100_000_000, 799, 360, ANNUITY, dt.date(2026, 1, 31), id="usd-annuity-360m"),
    pytest.param(2_500_000, 1999, 1, ANNUITY, dt.date(2026, 2, 28), id="usd-annuity-1m"),
    pytest.param(
        1_000_000, 1200, 12, EQUAL_PRINCIPAL, dt.date(2026, 3, 15), id="usd-equal-principal"
    ),
    pytest.param(
        100_000_000, 650, 360, EQUAL_PRINCIPAL, dt.date(2026, 3, 30), id="usd-equal-principal-360m"
    ),
    pytest.param(1_234_567, 0, 7, ANNUITY, dt.date(2026, 5, 1), id="zero-rate-annuity"),
    pytest.param(
        1_000_001, 0, 3, EQUAL_PRINCIPAL, dt.date(2026, 5, 1), id="zero-rate-equal-principal"
    ),
    pytest.param(3_000_000, 1450, 36, ANNUITY, dt.date(2026, 12, 31), id="jpy-0-decimals"),
    pytest.param(7_777, 333, 1, ANNUITY, dt.date(2026, 6, 10), id="jpy-1m-small"),
    pytest.param(12_345_678, 525, 60, ANNUITY, dt.date(2027, 2, 28), id="kwd-3-decimals"),
    pytest.param(999_999_999, 1000, 360, ANNUITY, dt.date(2026, 8, 31), id="kwd-360m"),
    pytest.param(
        5, 1200, 4, EQUAL_PRINCIPAL, dt.date(2026, 1, 1), id="tiny-principal-never-overpays"
    ),
]


def _sql_schedule(
    pg: psycopg.Connection[Any], principal: int, rate: int, term: int, method: str, start: dt.date
) -> list[Installment]:
    rows = pg.execute(
        "select number, due_date, principal, interest"
        " from loans_private.amortization_schedule(%s, %s, %s, %s, %s) order by number",
        (principal, rate, term, method, start),
    ).fetchall()
    return [Installment(*row) for row in rows]


@pytest.mark.parametrize(("principal", "rate", "term", "method", "start"), CASES)
def test_schedule_matches_an_independent_decimal_computation(
    pg: psycopg.Connection[Any], principal: int, rate: int, term: int, method: str, start: dt.date
) -> None:
    actual = _sql_schedule(pg, principal, rate, term, method, start)
    assert actual == expected_schedule(principal, rate, term, method, start)


@pytest.mark.parametrize(("principal", "rate", "term", "method", "start"), CASES)
def test_schedule_principal_parts_sum_exactly_to_the_principal(
    pg: psycopg.Connection[Any], principal: int, rate: int, term: int, method: str, start: dt.date
) -> None:
    actual = _sql_schedule(pg, principal, rate, term, method, start)
    assert len(actual) == term
    assert sum(row.principal for row in actual) == principal
    assert all(row.principal >= 0 and row.interest >= 0 for row in actual)


def test_annuity_installments_are_equal_except_the_last_which_absorbs_rounding(
    pg: psycopg.Connection[Any],
) -> None:
    rows = _sql_schedule(pg, 1_000_000, 1200, 12, "equal_installments", dt.date(2026, 1, 15))
    totals = {row.principal + row.interest for row in rows[:-1]}
    assert len(totals) == 1
    assert abs(rows[-1].principal + rows[-1].interest - totals.pop()) <= 12


def test_zero_rate_schedule_charges_no_interest(pg: psycopg.Connection[Any]) -> None:
    rows = _sql_schedule(pg, 100_000, 0, 360, "equal_installments", dt.date(2026, 1, 15))
    assert {row.interest for row in rows} == {0}
    assert sum(row.principal for row in rows) == 100_000


@pytest.mark.parametrize(
    ("principal", "rate", "term", "method"),
    [
        (0, 100, 12, "equal_installments"),
        (100, 100, 0, "equal_installments"),
        (100, 100, 481, "equal_installments"),
        (100, -1, 12, "equal_installments"),
        (100, 100, 12, "balloon"),
    ],
)
def test_schedule_of_impossible_terms_is_refused(
    pg: psycopg.Connection[Any], principal: int, rate: int, term: int, method: str
) -> None:
    with pytest.raises(psycopg.Error) as raised:
        _sql_schedule(pg, principal, rate, term, method, dt.date(2026, 1, 1))
    assert raised.value.sqlstate == "BK009"


def test_days_30_360_counts_thirty_day_months(pg: psycopg.Connection[Any]) -> None:
    def days(start: str, end: str) -> int:
        row = pg.execute("select loans_private.days_30_360(%s, %s)", (start, end)).fetchone()
        assert row is not None
        return int(row[0])

    assert days("2026-01-15", "2026-02-15") == 30
    assert days("2026-01-31", "2026-03-31") == 60
    assert days("2026-01-15", "2027-01-15") == 360
    assert days("2026-03-01", "2026-03-31") == 29
    assert days("2026-03-10", "2026-03-10") == 0


@pytest.mark.parametrize(
    ("currency", "principal", "principal_minor", "rate", "term", "method"),
    [
        ("JPY", "3000000", 3_000_000, 1450, 36, "equal_installments"),
        ("KWD", "12345.678", 12_345_678, 525, 60, "equal_installments"),
        ("USD", "2500.00", 250_000, 1999, 1, "equal_installments"),
        ("EUR", "250000.00", 25_000_000, 410, 360, "equal_principal"),
        ("GBP", "999.99", 99_999, 0, 12, "equal_installments"),
    ],
)
def test_applying_shows_the_schedule_of_the_product_terms(
    pg: psycopg.Connection[Any], rest: RestFactory, make_user: Callable[..., User],
    currency: str, principal: str, principal_minor: int, rate: int, term: int, method: str,
) -> None:  # fmt: skip
    borrower = make_user()
    account = open_account(pg, borrower.id, currency)
    product = make_product(pg, currency, annual_rate_bps=rate, amortization_method=method)
    loan = rpc_ok(
        rest(borrower.token), "loan_apply", p_account_id=account, p_principal=principal,
        p_currency=currency, p_term_months=term, p_product_id=product,
    )  # fmt: skip
    assert (loan["principal"], loan["annual_rate_bps"], loan["amortization_method"]) == (
        principal_minor, rate, method,
    )  # fmt: skip
    created = dt.date.fromisoformat(loan["created_at"][:10])
    expected = expected_schedule(principal_minor, rate, term, method, created)
    actual = [
        Installment(row["number"], dt.date.fromisoformat(row["due_date"]), row["principal"],
                    row["interest"])
        for row in loan["schedule"]
    ]  # fmt: skip
    assert actual == expected
    assert all(row["total"] == row["principal"] + row["interest"] for row in loan["schedule"])
    assert {row["paid"] for row in loan["schedule"]} == {0}
