"""The database side of the security and fault audit, one test per finding.

The dashboard (`postgres`) cannot switch the guards off with a setting; a
currency's exponent is fixed once used; idempotency records are append-only
with one retention function; business dates ignore the session's timezone;
loan repayments count in the money-movement rate limit; an amount that fills
a bigint is a limit refusal, not an overflow; PostgREST shows a customer no
more than the functions do; and money is conserved, pending credits
included, by one check in sql/checks.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import psycopg
import pytest

from functions.transfers import TRANSFER_COLUMNS
from tests.conftest import ROOT, StackHandle
from tests.conftest import TestUser as User
from tests.integration.money_support import unused_currency_code

pytestmark = pytest.mark.integration

CONSERVATION = ROOT / "sql" / "checks" / "08_money_is_conserved.sql"


def _claims(user: User) -> str:
    return json.dumps({"sub": user.id, "role": "authenticated", "aud": "authenticated"})


def _as_user(pg: psycopg.Connection[Any], user: User, sql: str, args: list[Any]) -> Any:
    with pg.transaction():
        pg.execute("select set_config('request.jwt.claims', %s, true)", [_claims(user)])
        row = pg.execute(sql, args).fetchone()
    assert row is not None
    return row[0]


def _account(pg: psycopg.Connection[Any], user: User, currency: str = "USD") -> str:
    opened = _as_user(pg, user, "select public.open_account(%s, 'checking')", [currency])
    return str(opened["id"])


def _deposit(pg: psycopg.Connection[Any], account_id: str, amount: str, currency: str) -> None:
    pg.execute(
        "select public.admin_deposit(%s, %s::numeric, %s, 'test funding', %s)",
        [account_id, amount, currency, str(uuid.uuid4())],
    )


def _active_loan(
    pg: psycopg.Connection[Any], user: User, account_id: str, currency: str = "USD"
) -> str:
    product = pg.execute(
        "select id from public.loan_products where currency = %s and is_default", [currency]
    ).fetchone()
    if product is None:
        product = pg.execute(
            "insert into public.loan_products (name, currency, min_principal, max_principal,"
            " min_term_months, max_term_months, annual_rate_bps, is_default)"
            " values (%s, %s, 1, 1000000000, 1, 360, 1200, true) returning id",
            [f"test {currency}", currency],
        ).fetchone()
    assert product is not None
    loan = _as_user(
        pg, user, "select public.loan_apply(%s, 1000.00, %s, 12, %s)",
        [account_id, currency, product[0]],
    )  # fmt: skip
    pg.execute("select public.admin_loan_approve(%s)", [loan["id"]])
    return str(loan["id"])


def _transfer(
    pg: psycopg.Connection[Any], user: User, source: str, target: str, amount: str,
    currency: str = "USD", key: str | None = None,
) -> Any:  # fmt: skip
    return _as_user(
        pg, user, "select public.transfer_funds(%s, %s, %s::numeric, %s, %s)",
        [source, target, amount, currency, key or str(uuid.uuid4())],
    )  # fmt: skip


def _sqlstate(pg: psycopg.Connection[Any], sql: str, args: list[Any] | None = None) -> str | None:
    try:
        with pg.transaction(force_rollback=True):
            pg.execute("set local ledger.posting = 'on'")
            pg.execute("set local loans.internal = 'on'")
            pg.execute(sql, args or [])
    except psycopg.Error as error:
        return error.sqlstate
    return None


# Finding 2: the dashboard cannot change a balance by setting ledger.posting ----------------
def test_a_dashboard_session_with_the_posting_setting_on_cannot_change_a_balance(
    pg: psycopg.Connection[Any], make_user: Callable[..., User]
) -> None:
    account = _account(pg, make_user())
    state = _sqlstate(pg, "update public.accounts set balance = balance + 100 where id = %s",
                      [account])  # fmt: skip
    assert state == "BK011"


def test_a_freeze_through_the_admin_function_is_audited_with_the_database_role(
    pg: psycopg.Connection[Any], make_user: Callable[..., User]
) -> None:
    account = _account(pg, make_user())
    pg.execute("select public.admin_freeze_account(%s)", [account])
    rows = pg.execute(
        "select action, db_role, before ->> 'status', after ->> 'status' from public.audit_log"
        " where table_name = 'accounts' and row_id = %s and action = 'update'",
        [account],
    ).fetchall()
    assert rows == [("update", "postgres", "active", "frozen")]


def test_a_posting_writes_no_audit_row_for_its_balance_update(
    pg: psycopg.Connection[Any], make_user: Callable[..., User]
) -> None:
    account = _account(pg, make_user())
    _deposit(pg, account, "3.00", "USD")
    rows = pg.execute(
        "select action from public.audit_log where table_name = 'accounts' and row_id = %s",
        [account],
    ).fetchall()
    assert rows == [("insert",)]


# Finding 3: a currency's exponent ---------------------------------------------------------
def test_a_currencys_exponent_cannot_change_once_accounts_hold_it_and_edits_are_audited(
    pg: psycopg.Connection[Any], make_user: Callable[..., User]
) -> None:
    assert _sqlstate(pg, "update public.currencies set exponent = 0 where code = 'USD'") == "BK011"
    code = unused_currency_code(pg)
    with pg.transaction(force_rollback=True):
        pg.execute(
            "insert into public.currencies (code, exponent, name, max_transfer_minor,"
            " daily_outgoing_limit_minor, transfers_per_minute) values (%s, 2, 'Test', 10, 10, 1)",
            [code],
        )
        # Its cash and loan system accounts are made with it: already held.
        state = None
        try:
            with pg.transaction():
                pg.execute("update public.currencies set exponent = 3 where code = %s", [code])
        except psycopg.Error as error:
            state = error.sqlstate
        assert state == "BK011"
        pg.execute("update public.currencies set name = 'Renamed' where code = %s", [code])
        audited = pg.execute(
            "select action, db_role from public.audit_log where table_name = 'currencies'"
            " and row_id = %s order by id",
            [code],
        ).fetchall()
        assert audited == [("insert", "postgres"), ("update", "postgres")]


# Finding 4: idempotency records ---------------------------------------------------------
def test_idempotency_records_cannot_be_deleted_edited_or_planted_by_the_dashboard(
    pg: psycopg.Connection[Any], make_user: Callable[..., User]
) -> None:
    alice, bob = make_user(), make_user()
    source, target = _account(pg, alice), _account(pg, bob)
    _deposit(pg, source, "10.00", "USD")
    key = str(uuid.uuid4())
    first = _transfer(pg, alice, source, target, "1.00", key=key)
    where = [alice.id, key]
    delete = "delete from public.idempotency_records where caller_id = %s and key = %s"
    update = ("update public.idempotency_records set http_status = 422, transfer_id = null,"
              " result = '{}' where caller_id = %s and key = %s")  # fmt: skip
    assert _sqlstate(pg, delete, where) == "BK011"
    assert _sqlstate(pg, update, where) == "BK011"
    assert _sqlstate(pg, "truncate public.idempotency_records") == "BK011"
    planted = (
        "insert into public.idempotency_records (caller_id, key, request_hash, http_status,"
        " transfer_id) values (%s, %s, '\\x00', 201, gen_random_uuid())"
    )
    assert _sqlstate(pg, planted, [alice.id, str(uuid.uuid4())]) == "BK011"
    # The retry of the paid request is still a replay, not a second transfer.
    again = _transfer(pg, alice, source, target, "1.00", key=key)
    assert (again["id"], again["replayed"]) == (first["id"], True)


def test_a_refusal_is_still_stored_under_its_key(
    pg: psycopg.Connection[Any], make_user: Callable[..., User]
) -> None:
    alice, bob = make_user(), make_user()
    source, target = _account(pg, alice), _account(pg, bob)
    key = str(uuid.uuid4())
    refused = _transfer(pg, alice, source, target, "1.00", key=key)
    assert (refused["code"], refused["replayed"]) == ("BK001", False)
    assert _transfer(pg, alice, source, target, "1.00", key=key)["replayed"] is True


def test_the_purge_removes_only_records_older_than_the_retention(
    pg: psycopg.Connection[Any], make_user: Callable[..., User]
) -> None:
    alice, bob = make_user(), make_user()
    source, target = _account(pg, alice), _account(pg, bob)
    _deposit(pg, source, "10.00", "USD")
    _transfer(pg, alice, source, target, "1.00")
    assert _sqlstate(pg, "select private.purge_idempotency_keys(interval '1 day')") == "BK009"
    with pg.transaction(force_rollback=True):
        removed = pg.execute("select private.purge_idempotency_keys(interval '30 days')").fetchone()
        assert removed is not None
        kept = pg.execute(
            "select count(*) from public.idempotency_records where caller_id = %s", [alice.id]
        ).fetchone()
        assert kept == (1,)


# Finding 5: business dates ---------------------------------------------------------------
def test_the_payoff_quote_ignores_the_callers_timezone(
    pg: psycopg.Connection[Any], make_user: Callable[..., User],
    rest: Callable[[str | None], httpx.Client],
) -> None:  # fmt: skip
    alice = make_user()
    account = _account(pg, alice)
    loan = _active_loan(pg, alice, account)
    client = rest(alice.token)
    quotes = []
    for zone in (None, "Pacific/Kiritimati", "Etc/GMT+12"):
        headers = {"Prefer": f"timezone={zone}"} if zone else {}
        response = client.post("/rpc/loan_payoff_quote", json={"p_loan_id": loan}, headers=headers)
        assert response.status_code == 200, response.text
        quotes.append((response.json()["date"], response.json()["amount"]))
    today = pg.execute("select private.business_date()").fetchone()
    assert today is not None
    assert quotes == [(today[0].isoformat(), quotes[0][1])] * 3


def test_the_business_date_is_today_in_the_banks_timezone(pg: psycopg.Connection[Any]) -> None:
    with pg.transaction(force_rollback=True):
        pg.execute("set local timezone = 'Pacific/Kiritimati'")
        pg.execute("update private.bank_settings set timezone = 'Etc/GMT+12'")
        row = pg.execute(
            "select private.business_date(), (now() at time zone 'Etc/GMT+12')::date"
        ).fetchone()
    assert row is not None
    assert row[0] == row[1]


# Finding 6: loan repayments share the rate limit -----------------------------------------
def test_loan_repayments_count_in_the_money_movement_rate_limit(
    stack: StackHandle,
    pg: psycopg.Connection[Any], make_user: Callable[..., User],
    rest: Callable[[str | None], httpx.Client],
) -> None:  # fmt: skip
    code = unused_currency_code(pg)
    pg.execute(
        "insert into public.currencies (code, exponent, name, max_transfer_minor,"
        " daily_outgoing_limit_minor, transfers_per_minute) values (%s, 2, 'Rate test',"
        " 100000000, 500000000, 3)",
        [code],
    )
    alice, bob = make_user(), make_user()
    source, target = _account(pg, alice, code), _account(pg, bob, code)
    _deposit(pg, source, "100.00", code)
    loan = _active_loan(pg, alice, source, code)
    client = rest(alice.token)
    moved = client.post("/rpc/transfer_funds", json={
        "p_from_account_id": source, "p_to_account_id": target, "p_amount": "1.00",
        "p_currency": code, "p_idempotency_key": str(uuid.uuid4())})  # fmt: skip
    assert moved.status_code == 200, moved.text
    statuses = []
    for _ in range(3):
        repaid = client.post("/rpc/loan_repay", json={
            "p_loan_id": loan, "p_amount": "0.01", "p_from_account_id": source,
            "p_idempotency_key": str(uuid.uuid4())})  # fmt: skip
        statuses.append(repaid.json().get("code") if repaid.status_code != 200 else 200)
    assert statuses == [200, 200, "BK008"]
    assert int(repaid.json()["details"]) >= 1  # the seconds to wait: Retry-After
    # Through the functions, as for transfers: 429 with Retry-After.
    with httpx.Client(base_url=stack.functions_url, timeout=15) as functions:
        limited = functions.post(
            f"/loans/{loan}/repayments",
            json={"amount": "0.01", "from_account_id": source},
            headers={
                "Authorization": f"Bearer {alice.token}",
                "Idempotency-Key": str(uuid.uuid4()),
            },
        )
    assert limited.status_code == 429, limited.text
    assert limited.json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["retry-after"]) >= 1


# Finding 8 (SQL half): an amount that fills a bigint is a limit refusal ------------------
def test_an_amount_of_the_largest_bigint_in_cents_is_refused_as_over_the_limit(
    pg: psycopg.Connection[Any], make_user: Callable[..., User]
) -> None:
    alice, bob = make_user(), make_user()
    source, target = _account(pg, alice), _account(pg, bob)
    _deposit(pg, source, "10.00", "USD")
    _transfer(pg, alice, source, target, "1.00")
    refused = _transfer(pg, alice, source, target, "92233720368547758.07")
    assert (refused["code"], refused["details"]) == ("BK007", "max_transfer_minor")
    # The day's total is unchanged by the refusal: the next small transfer passes.
    assert _transfer(pg, alice, source, target, "1.00")["replayed"] is False


def test_a_deposit_or_withdrawal_that_would_overflow_a_balance_is_refused_not_an_error(
    pg: psycopg.Connection[Any], make_user: Callable[..., User]
) -> None:
    account = _account(pg, make_user())
    _deposit(pg, account, "10.00", "USD")
    for rpc, code in (("admin_deposit", "BK007"), ("admin_withdraw", "BK001")):
        row = pg.execute(
            f"select public.{rpc}(%s, 92233720368547758.07, 'USD', 'huge', %s)",
            [account, str(uuid.uuid4())],
        ).fetchone()
        assert row is not None
        assert row[0]["code"] == code, rpc


# Finding 7: PostgREST shows no more than the functions -----------------------------------
def test_a_customer_cannot_read_who_initiated_a_transfer_through_postgrest(
    pg: psycopg.Connection[Any], make_user: Callable[..., User],
    rest: Callable[[str | None], httpx.Client],
) -> None:  # fmt: skip
    alice, bob = make_user(), make_user()
    source, target = _account(pg, alice), _account(pg, bob)
    _deposit(pg, source, "10.00", "USD")
    moved = _transfer(pg, alice, source, target, "1.00")
    client = rest(bob.token)
    leaked = client.get("/transfers", params={"select": "initiated_by", "id": f"eq.{moved['id']}"})
    assert leaked.status_code in (401, 403), leaked.text
    shown = client.get("/transfers", params={"select": TRANSFER_COLUMNS, "id": f"eq.{moved['id']}"})
    assert shown.status_code == 200, shown.text
    assert [row["id"] for row in shown.json()] == [moved["id"]]


@pytest.mark.parametrize("count", ["planned", "estimated"])
def test_postgrest_refuses_bank_wide_count_estimates(
    make_user: Callable[..., User], rest: Callable[[str | None], httpx.Client], count: str
) -> None:
    client = rest(make_user().token)
    refused = client.get(
        "/transfers", params={"select": "id"}, headers={"Prefer": f"count={count}"}
    )
    assert refused.status_code == 400, refused.text
    exact = client.get("/transfers", params={"select": "id"}, headers={"Prefer": "count=exact"})
    assert exact.status_code == 200, exact.text
    assert exact.headers["content-range"].endswith("/0")


def _token(stack: StackHandle, user: User, **changes: Any) -> str:
    claims = jwt.decode(user.token, options={"verify_signature": False})
    claims.update(changes)
    for name in [name for name, value in changes.items() if value is None]:
        del claims[name]
    return jwt.encode(claims, stack.jwt_secret, algorithm="HS256")


def test_postgrest_refuses_a_user_token_for_another_audience_and_keeps_the_anon_key(
    stack: StackHandle, make_user: Callable[..., User],
    rest: Callable[[str | None], httpx.Client],
) -> None:  # fmt: skip
    user = make_user()
    for aud in ("another-project", None, ["other"]):
        response = rest(_token(stack, user, aud=aud)).get("/currencies", params={"select": "code"})
        assert response.status_code == 401, (aud, response.text)
    assert rest(user.token).get("/currencies", params={"select": "code"}).status_code == 200
    assert rest(None).get("/currencies", params={"select": "code"}).status_code == 200


def _planned_count_refused(client: httpx.Client, refused: bool) -> bool:
    """Poll until PostgREST refuses count=planned (400) or answers it (200, or 206 with the
    estimate), as `refused` says: a config reload is asynchronous."""
    deadline = time.monotonic() + 15
    while True:
        response = client.get("/transfers", params={"select": "id"},
                              headers={"Prefer": "count=planned"})  # fmt: skip
        assert response.status_code in (200, 206, 400), response.text
        now_refused = response.status_code == 400
        if now_refused == refused or time.monotonic() > deadline:
            return now_refused


def test_postgrest_reads_the_pre_request_check_from_the_database(
    pg: psycopg.Connection[Any], make_user: Callable[..., User],
    rest: Callable[[str | None], httpx.Client],
) -> None:  # fmt: skip
    """The check is the in-database setting, not the config file: PostgREST 12.0.2
    drops it when the role setting is reset and reloaded, and takes it back."""
    client = rest(make_user().token)
    assert _planned_count_refused(client, refused=True)
    try:
        pg.execute("alter role authenticator reset pgrst.db_pre_request")
        pg.execute("notify pgrst, 'reload config'")
        assert not _planned_count_refused(client, refused=False)
    finally:
        pg.execute("alter role authenticator set pgrst.db_pre_request = 'private.check_request'")
        pg.execute("notify pgrst, 'reload config'")
    assert _planned_count_refused(client, refused=True)


# Finding 9: money is conserved, pending credits included ---------------------------------
def test_the_conservation_check_counts_pending_credits(
    pg: psycopg.Connection[Any], make_user: Callable[..., User]
) -> None:
    alice, bob = make_user(), make_user()
    source, target = _account(pg, alice), _account(pg, bob)
    pg.execute("update public.accounts set deferred_credits = true where id = %s", [target])
    _deposit(pg, source, "10.00", "USD")
    _transfer(pg, alice, source, target, "0.01")
    pending = pg.execute(
        "select count(*) from public.pending_credits where account_id = %s", [target]
    ).fetchone()
    assert pending == (1,)
    assert pg.execute(CONSERVATION.read_text()).fetchall() == []
    # A balance-only sum is off by the pending credit until it is settled.
    balances_only = pg.execute(
        "select sum(balance) from public.accounts where currency = 'USD'"
    ).fetchone()
    pending_total = pg.execute(
        "select coalesce(sum(p.amount), 0) from public.pending_credits as p"
        " join public.accounts as a on a.id = p.account_id where a.currency = 'USD'"
    ).fetchone()
    assert balances_only is not None
    assert pending_total is not None
    assert balances_only[0] == -pending_total[0] != 0
    pg.execute("select public.settle_pending_credits(%s)", [target])
    assert pg.execute(CONSERVATION.read_text()).fetchall() == []


def test_every_conservation_check_in_the_tests_runs_the_one_sql_file() -> None:
    inline = "sum(balance) from public.accounts group by currency"
    offenders = [
        path.name
        for path in (ROOT / "tests").rglob("*.py")
        if inline in path.read_text() and path.name != "test_security_findings.py"
    ]
    assert offenders == []
