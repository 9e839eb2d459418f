"""Every business error of the money-moving RPCs, the dashboard guards, and the advisors.

Errors are driven through PostgREST with real tokens, as the functions call
it: each must carry its SQLSTATE (class BK) as `code`, a message naming what
failed, the documented HTTP status where the RPC stores the failure, and
must leave no ledger row behind. The dashboard tests run as `postgres`, the
role of Supabase's table and SQL editors: refused edits are refused, allowed
ones are written to the audit log.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import ROOT, StackHandle

pytestmark = pytest.mark.integration

# A currency of its own with tiny limits, so the limit errors are cheap to reach.
LIMITED = "XLT"


@dataclass
class Customer:
    id: str
    token: str
    http: httpx.Client
    usd: str
    usd_savings: str
    eur: str


def _rpc(http: httpx.Client, name: str, **args: Any) -> httpx.Response:
    return http.post(f"/rpc/{name}", json=args)


def _deposit(pg: psycopg.Connection[Any], account_id: str, amount: str, currency: str) -> None:
    pg.execute(
        "select public.admin_deposit(%s, %s::numeric, %s, 'test funding', %s)",
        [account_id, amount, currency, str(uuid.uuid4())],
    )


def _ledger_counts(pg: psycopg.Connection[Any]) -> tuple[int, int, int]:
    row = pg.execute(
        "select (select count(*) from public.transfers), (select count(*) from public.entries),"
        " (select coalesce(sum(balance), 0) from public.accounts where kind <> 'system')"
    ).fetchone()
    assert row is not None
    return (int(row[0]), int(row[1]), int(row[2]))


@pytest.fixture
def customer(make_user: Any, rest: Any, pg: psycopg.Connection[Any]) -> Callable[[], Customer]:
    def make() -> Customer:
        user = make_user()
        http = rest(user.token)
        ids = []
        for currency, kind in (("USD", "checking"), ("USD", "savings"), ("EUR", "checking")):
            opened = _rpc(http, "open_account", p_currency=currency, p_kind=kind)
            assert opened.status_code == 200, opened.text
            ids.append(opened.json()["id"])
        _deposit(pg, ids[0], "100.00", "USD")
        return Customer(user.id, user.token, http, ids[0], ids[1], ids[2])

    return make


def _transfer(who: Customer, to: str, amount: str = "1.00", currency: str = "USD",
              key: str | None = None, source: str | None = None) -> httpx.Response:  # fmt: skip
    return _rpc(
        who.http, "transfer_funds", p_from_account_id=source or who.usd, p_to_account_id=to,
        p_amount=amount, p_currency=currency, p_idempotency_key=key or str(uuid.uuid4()),
    )  # fmt: skip


def _assert_stored_refusal(response: httpx.Response, code: str, status: int, names: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code
    assert names in body["message"]
    assert body["replayed"] is False


def test_insufficient_funds_is_refused_with_bk001_and_writes_nothing(
    customer: Callable[[], Customer], pg: psycopg.Connection[Any]
) -> None:
    alice, bob = customer(), customer()
    before = _ledger_counts(pg)
    _assert_stored_refusal(_transfer(alice, bob.usd, "100.01"), "BK001", 422, alice.usd)
    assert _ledger_counts(pg) == before


def test_an_insufficient_funds_message_gives_amounts_as_the_api_does(
    customer: Callable[[], Customer], pg: psycopg.Connection[Any]
) -> None:
    alice, bob = customer(), customer()
    refused = _transfer(alice, bob.usd, "999999.00")
    _assert_stored_refusal(refused, "BK001", 422, "100.00 USD available, 999999.00 USD requested")
    withdrawn = pg.execute(
        "select public.admin_withdraw(%s, 100.50, 'USD', 'too much', %s)",
        [alice.usd, str(uuid.uuid4())],
    ).fetchone()
    assert withdrawn is not None
    assert "100.00 USD available, 100.50 USD requested" in withdrawn[0]["message"]


def test_currency_mismatch_is_refused_with_bk002(
    customer: Callable[[], Customer], pg: psycopg.Connection[Any]
) -> None:
    alice, bob = customer(), customer()
    before = _ledger_counts(pg)
    _assert_stored_refusal(_transfer(alice, bob.eur), "BK002", 422, bob.eur)
    _assert_stored_refusal(_transfer(alice, bob.eur, currency="EUR"), "BK002", 422, alice.usd)
    assert _ledger_counts(pg) == before


def test_a_transfer_to_the_same_account_is_refused_with_bk003(
    customer: Callable[[], Customer], pg: psycopg.Connection[Any]
) -> None:
    alice = customer()
    before = _ledger_counts(pg)
    _assert_stored_refusal(_transfer(alice, alice.usd), "BK003", 422, alice.usd)
    assert _ledger_counts(pg) == before


def _close(pg: psycopg.Connection[Any], account_id: str) -> None:
    """Empties an account through the ledger, then closes it, as staff do in the dashboard."""
    row = pg.execute("select balance from public.accounts where id = %s", [account_id]).fetchone()
    assert row is not None
    if row[0] > 0:
        pg.execute(
            "select public.admin_withdraw(%s, %s / 100.0, 'USD', 'closing', %s)",
            [account_id, row[0], str(uuid.uuid4())],
        )
    pg.execute("update public.accounts set status = 'closed' where id = %s", [account_id])


@pytest.mark.parametrize("side", ["sender", "receiver"])
@pytest.mark.parametrize("status", ["frozen", "closed"])
def test_a_frozen_or_closed_account_neither_sends_nor_receives(
    customer: Callable[[], Customer], pg: psycopg.Connection[Any], side: str, status: str
) -> None:
    alice, bob = customer(), customer()
    blocked = alice.usd if side == "sender" else bob.usd
    if status == "closed":
        _close(pg, blocked)
    else:
        pg.execute("update public.accounts set status = %s where id = %s", [status, blocked])
    before = _ledger_counts(pg)
    response = _transfer(alice, bob.usd)
    _assert_stored_refusal(response, "BK004", 409, f"account (id={blocked}) is {status}")
    assert _ledger_counts(pg) == before


def test_an_unknown_or_system_destination_is_not_found(
    customer: Callable[[], Customer], pg: psycopg.Connection[Any]
) -> None:
    alice = customer()
    cash = pg.execute("select private.system_account('USD', 'cash')::text").fetchone()
    assert cash is not None
    before = _ledger_counts(pg)
    for destination in (str(uuid.uuid4()), cash[0]):
        _assert_stored_refusal(_transfer(alice, destination), "BK005", 404, destination)
    assert _ledger_counts(pg) == before


def test_a_reused_key_with_a_different_request_is_a_conflict(
    customer: Callable[[], Customer], pg: psycopg.Connection[Any]
) -> None:
    alice, bob = customer(), customer()
    first = _transfer(alice, bob.usd, "1.00", key="reused")
    assert first.status_code == 200
    before = _ledger_counts(pg)
    response = _transfer(alice, bob.usd, "2.00", key="reused")
    assert response.json()["code"] == "BK006"
    assert "reused" in response.json()["message"]
    assert _ledger_counts(pg) == before


def test_the_same_key_and_request_replays_the_first_result(
    customer: Callable[[], Customer], pg: psycopg.Connection[Any]
) -> None:
    alice, bob = customer(), customer()
    first = _transfer(alice, bob.usd, "1.5", key="same")
    before = _ledger_counts(pg)
    again = _transfer(alice, bob.usd, "1.50", key="same")
    assert again.status_code == 200
    assert {**first.json(), "replayed": True} == again.json()
    assert _ledger_counts(pg) == before


def test_a_refusal_is_stored_so_a_retry_cannot_turn_it_into_a_transfer(
    customer: Callable[[], Customer], pg: psycopg.Connection[Any]
) -> None:
    alice, bob = customer(), customer()
    refused = _transfer(alice, bob.usd, "150.00", key="poor")
    _assert_stored_refusal(refused, "BK001", 422, alice.usd)
    _deposit(pg, alice.usd, "100.00", "USD")
    retried = _transfer(alice, bob.usd, "150.00", key="poor")
    assert retried.status_code == 422
    assert retried.json() == {**refused.json(), "replayed": True}


@pytest.fixture
def limited_currency(pg: psycopg.Connection[Any]) -> str:
    pg.execute(
        "insert into public.currencies (code, exponent, name, max_transfer_minor,"
        " daily_outgoing_limit_minor, transfers_per_minute)"
        " values (%s, 2, 'Limited test money', 500, 800, 4)"
        " on conflict (code) do update set max_transfer_minor = 500,"
        " daily_outgoing_limit_minor = 800, transfers_per_minute = 4",
        [LIMITED],
    )
    return LIMITED


def _limited_pair(
    customer: Callable[[], Customer], pg: psycopg.Connection[Any]
) -> tuple[Customer, str, str]:
    alice, bob = customer(), customer()
    source = _rpc(alice.http, "open_account", p_currency=LIMITED, p_kind="checking").json()["id"]
    target = _rpc(bob.http, "open_account", p_currency=LIMITED, p_kind="checking").json()["id"]
    _deposit(pg, source, "100.00", LIMITED)
    return alice, source, target


def test_over_the_per_transfer_or_daily_limit_is_refused_with_bk007(
    customer: Callable[[], Customer], pg: psycopg.Connection[Any], limited_currency: str
) -> None:
    alice, source, target = _limited_pair(customer, pg)
    before = _ledger_counts(pg)
    over = _transfer(alice, target, "5.01", LIMITED, source=source)
    _assert_stored_refusal(
        over, "BK007", 422, "(5.01 XLT) is over the limit of 5.00 XLT per transfer"
    )
    assert _transfer(alice, target, "5.00", LIMITED, source=source).status_code == 200
    daily = _transfer(alice, target, "3.01", LIMITED, source=source)
    _assert_stored_refusal(daily, "BK007", 422, "the daily limit of 8.00 XLT")
    assert _ledger_counts(pg)[0] == before[0] + 1
    # The refused amount was given back: what is left of the day still goes through.
    assert _transfer(alice, target, "3.00", LIMITED, source=source).status_code == 200


def test_over_the_rate_limit_is_raised_with_bk008_and_retry_after(
    customer: Callable[[], Customer], pg: psycopg.Connection[Any], limited_currency: str
) -> None:
    alice, source, target = _limited_pair(customer, pg)
    for _ in range(4):
        assert _transfer(alice, target, "0.01", LIMITED, source=source).status_code == 200
    before = _ledger_counts(pg)
    key = str(uuid.uuid4())
    limited = _transfer(alice, target, "0.01", LIMITED, key=key, source=source)
    body = limited.json()
    assert body["code"] == "BK008"
    assert 1 <= int(body["details"]) <= 60
    assert _ledger_counts(pg) == before
    stored = pg.execute(
        "select count(*) from public.idempotency_records where key = %s", [key]
    ).fetchone()
    assert stored == (0,)  # raised, not stored: the same key may be retried later


@pytest.mark.parametrize(
    ("amount", "currency", "names"),
    [
        ("0", "USD", "greater than zero"),
        ("-1.00", "USD", "greater than zero"),
        ("1.001", "USD", "amount (1.001) has more decimals than USD allows (at most 2)"),
        ("1.5", "JPY", "amount (1.5) has more decimals than JPY allows (none)"),
        ("99999999999999999999", "USD", "too large"),
        ("1.00", "ZZZ", "currency (ZZZ)"),
    ],
)
def test_a_malformed_amount_or_currency_is_raised_with_bk009_naming_the_field(
    customer: Callable[[], Customer],
    pg: psycopg.Connection[Any],
    amount: str,
    currency: str,
    names: str,
) -> None:
    alice, bob = customer(), customer()
    before = _ledger_counts(pg)
    body = _transfer(alice, bob.usd, amount, currency).json()
    assert body["code"] == "BK009"
    assert names in body["message"]
    assert body["details"] == ("p_currency" if currency == "ZZZ" else "p_amount")
    assert _ledger_counts(pg) == before


def test_a_customer_calling_an_admin_function_is_forbidden_with_bk010(
    customer: Callable[[], Customer], pg: psycopg.Connection[Any]
) -> None:
    alice = customer()
    before = _ledger_counts(pg)
    for name, args in (
        ("admin_deposit", {"p_account_id": alice.usd, "p_amount": "1", "p_currency": "USD",
                           "p_reference": "x", "p_idempotency_key": "x"}),
        ("admin_withdraw", {"p_account_id": alice.usd, "p_amount": "1", "p_currency": "USD",
                            "p_reference": "x", "p_idempotency_key": "x"}),
        ("admin_freeze_account", {"p_account_id": alice.usd}),
        ("admin_unfreeze_account", {"p_account_id": alice.usd}),
    ):  # fmt: skip
        body = _rpc(alice.http, name, **args).json()
        assert body["code"] == "BK010"
        assert name in body["message"]
    assert _ledger_counts(pg) == before


def test_an_admin_withdrawal_beyond_the_funds_is_refused_and_a_deposit_lands(
    customer: Callable[[], Customer], make_user: Any, rest: Any, pg: psycopg.Connection[Any]
) -> None:
    alice = customer()
    admin = rest(make_user("admin").token)
    args = {"p_account_id": alice.usd, "p_currency": "USD", "p_reference": "counter"}
    refused = _rpc(admin, "admin_withdraw", p_amount="100.01", p_idempotency_key="w1", **args)
    _assert_stored_refusal(refused, "BK001", 422, alice.usd)
    done = _rpc(admin, "admin_withdraw", p_amount="100.00", p_idempotency_key="w2", **args)
    assert done.status_code == 200
    assert done.json()["kind"] == "withdrawal"
    deposit = _rpc(admin, "admin_deposit", p_amount="7.25", p_idempotency_key="d1", **args)
    assert deposit.json()["kind"] == "deposit"
    balance = pg.execute("select balance from public.accounts where id = %s", [alice.usd])
    assert balance.fetchone() == (725,)


def test_an_admin_freezes_and_unfreezes_and_a_closed_account_stays_closed(
    customer: Callable[[], Customer], make_user: Any, rest: Any, pg: psycopg.Connection[Any]
) -> None:
    alice = customer()
    admin = rest(make_user("admin").token)
    assert _rpc(admin, "admin_freeze_account", p_account_id=alice.usd).json()["status"] == "frozen"
    assert (
        _rpc(admin, "admin_unfreeze_account", p_account_id=alice.usd).json()["status"] == "active"
    )
    _close(pg, alice.usd)
    assert _rpc(admin, "admin_freeze_account", p_account_id=alice.usd).json()["code"] == "BK011"
    missing = _rpc(admin, "admin_freeze_account", p_account_id=str(uuid.uuid4())).json()
    assert missing["code"] == "BK005"


def test_open_and_rename_validate_their_input(customer: Callable[[], Customer]) -> None:
    alice, bob = customer(), customer()
    bad_kind = _rpc(alice.http, "open_account", p_currency="USD", p_kind="system").json()
    assert (bad_kind["code"], bad_kind["details"]) == ("BK009", "p_kind")
    long_name = _rpc(alice.http, "rename_account", p_account_id=alice.usd, p_nickname="x" * 65)
    assert long_name.json()["code"] == "BK009"
    renamed = _rpc(alice.http, "rename_account", p_account_id=alice.usd, p_nickname="Bills")
    assert renamed.json()["nickname"] == "Bills"
    not_hers = _rpc(alice.http, "rename_account", p_account_id=bob.usd, p_nickname="Mine")
    assert not_hers.json()["code"] == "BK005"


def test_account_numbers_carry_a_mod_97_check_digit(customer: Callable[[], Customer]) -> None:
    alice = customer()
    numbers = [row["account_number"] for row in alice.http.get("/accounts").json()]
    assert len(numbers) == 3
    assert all(len(n) == 10 and int(n) % 97 == 1 for n in numbers)


# The dashboard, as postgres -----------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "update public.accounts set balance = balance + 100 where id = %(account)s",
        "update public.accounts set version = 0 where id = %(account)s",
        "update public.accounts set currency = 'EUR' where id = %(account)s",
        "update public.accounts set owner_id = null, kind = 'system' where id = %(account)s",
        "delete from public.accounts where id = %(account)s",
        "update public.entries set amount = amount * 2 where account_id = %(account)s",
        "delete from public.entries where account_id = %(account)s",
        "truncate public.entries cascade",
        "update public.transfers set amount = 1 where to_account_id = %(account)s",
        "delete from public.transfers where to_account_id = %(account)s",
        "truncate public.transfers cascade",
        "truncate public.accounts cascade",
        "insert into public.accounts (owner_id, kind, currency, balance)"
        " select owner_id, 'checking', 'USD', 500 from public.accounts where id = %(account)s",
        "insert into public.transfers (kind, from_account_id, to_account_id, amount, currency)"
        " values ('transfer', %(account)s, %(other)s, 1, 'USD')",
        "update public.audit_log set actor_role = 'nobody'",
        "delete from public.audit_log",
    ],
)
def test_the_dashboard_cannot_break_the_ledger(
    customer: Callable[[], Customer], pg: psycopg.Connection[Any], statement: str
) -> None:
    alice = customer()
    before = _ledger_counts(pg)
    with pytest.raises(psycopg.Error) as refused:
        pg.execute(statement, {"account": alice.usd, "other": alice.usd_savings})
    assert refused.value.sqlstate == "BK011"
    assert (
        "refused" in str(refused.value)
        or "cannot" in str(refused.value)
        or "balances change only through a transfer: use public.admin_deposit" in str(refused.value)
        or "its currency (USD) never changes" in str(refused.value)
        or "only status, nickname, overdraft_limit and deferred_credits" in str(refused.value)
        or "starts with balance 0" in str(refused.value)
    )
    assert _ledger_counts(pg) == before


@pytest.mark.parametrize(
    ("column", "value"),
    [("status", "frozen"), ("nickname", "Edited by staff"), ("overdraft_limit", 2500)],
)
def test_the_dashboard_may_edit_status_nickname_and_overdraft_and_each_edit_is_audited(
    customer: Callable[[], Customer], pg: psycopg.Connection[Any], column: str, value: Any
) -> None:
    alice = customer()
    pg.execute(f"update public.accounts set {column} = %s where id = %s", [value, alice.usd])
    audited = pg.execute(
        "select actor_id, actor_role, action, before ->> %s, after ->> %s"
        "  from public.audit_log where table_name = 'accounts' and row_id = %s"
        " order by id desc limit 1",
        [column, column, alice.usd],
    ).fetchone()
    assert audited is not None
    assert audited[:3] == (None, "postgres", "update")
    assert audited[4] == str(value)
    assert audited[3] != audited[4]


def test_lowering_an_overdraft_below_a_debt_is_refused(
    customer: Callable[[], Customer], pg: psycopg.Connection[Any]
) -> None:
    alice, bob = customer(), customer()
    pg.execute("update public.accounts set overdraft_limit = 5000 where id = %s", [alice.usd])
    assert _transfer(alice, bob.usd, "140.00").status_code == 200
    with pytest.raises(psycopg.errors.CheckViolation):
        pg.execute("update public.accounts set overdraft_limit = 0 where id = %s", [alice.usd])


def test_the_dashboard_posts_deposits_through_the_admin_functions(
    customer: Callable[[], Customer], pg: psycopg.Connection[Any]
) -> None:
    alice = customer()
    posted = pg.execute(
        "select public.admin_deposit(%s, 2.50, 'USD', 'cash at the counter', %s)",
        [alice.usd, str(uuid.uuid4())],
    ).fetchone()
    assert posted is not None
    assert posted[0]["kind"] == "deposit"
    assert posted[0]["initiated_by"] is None


def test_the_security_advisors_report_no_warning_and_no_error(stack: StackHandle) -> None:
    result = subprocess.run(
        [str(ROOT / "node_modules" / ".bin" / "supabase"), "db", "advisors",
         f"--remote={stack.pg_dsn}", "--type", "all", "--level", "info", "--fail-on", "warn",
         "--workdir", str(ROOT)],
        capture_output=True, text=True, timeout=120, check=False, cwd=ROOT,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert '"level": "WARN"' not in output
    assert '"level": "ERROR"' not in output


@pytest.mark.parametrize("key", ["", "has spaces", "semi;colon", "é", "k" * 256])
def test_every_money_rpc_refuses_a_key_outside_the_documented_rule(
    customer: Callable[[], Customer], pg: psycopg.Connection[Any], key: str
) -> None:
    alice, bob = customer(), customer()
    before = _ledger_counts(pg)
    body = _rpc(
        alice.http, "transfer_funds", p_from_account_id=alice.usd, p_to_account_id=bob.usd,
        p_amount="1.00", p_currency="USD", p_idempotency_key=key,
    ).json()  # fmt: skip
    assert (body["code"], body["details"]) == ("BK009", "p_idempotency_key")
    with pytest.raises(psycopg.Error) as raised:
        pg.execute(
            "select public.admin_deposit(%s, 1.00, 'USD', 'a deposit', %s)", [alice.usd, key]
        )
    assert raised.value.diag.sqlstate == "BK009"
    assert raised.value.diag.message_detail == "p_idempotency_key"
    assert _ledger_counts(pg) == before


def test_a_key_made_of_every_allowed_character_is_accepted(
    customer: Callable[[], Customer],
) -> None:
    alice, bob = customer(), customer()
    moved = _transfer(alice, bob.usd, key="Az09_.:-" + "k" * 247)
    assert moved.status_code == 200, moved.text


def test_the_stored_refusals_status_agrees_with_the_functions_error_table(
    pg: psycopg.Connection[Any],
) -> None:
    from functions.core._error_table import ERROR_TABLE

    ledger = {(s, kind.status) for kind in ERROR_TABLE for s in kind.sqlstates if s[:2] == "BK"}
    assert ledger, "the error table names the ledger's SQLSTATEs"
    rows = pg.execute("select sqlstate, http_status from private.error_statuses").fetchall()
    assert set(rows) == ledger


def test_a_posting_leaves_no_setting_behind(
    customer: Callable[[], Customer], pg: psycopg.Connection[Any]
) -> None:
    alice = customer()
    with pg.transaction():
        _deposit(pg, alice.usd, "1.00", "USD")
        row = pg.execute(
            "select current_setting('ledger.posting', true),"
            " current_setting('loans.internal', true)"
        ).fetchone()
    assert row in ((None, None), ("", ""))
