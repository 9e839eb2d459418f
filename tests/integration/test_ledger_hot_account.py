"""Deferred credits (supabase/schemas/40_transfers.sql): a hot account under load.

Transfers into an account flagged `deferred_credits` append to
`pending_credits` instead of locking the account's row; a settle moves them
into entries. These tests drive transfer_funds the way sql/bench/transfer_funds.sql
does (one statement per transaction: the user's claims and role set in a
fenced subquery, then the call) and check that every invariant in sql/checks
holds with credits pending and after the settle, that frozen receivers still
refuse, that a debit of a deferred account settles it first, that the settle
is idempotent, and that pending credits obey RLS through PostgREST.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import ROOT, StackHandle

pytestmark = pytest.mark.integration

THREADS = 10
TRANSFERS = 2400
USERS = 12
CHECKS = sorted((ROOT / "sql" / "checks").glob("*.sql"))
CURRENCY = "XTS"  # ISO 4217's testing code, with limits no test reaches
ADD_CURRENCY = (
    "insert into public.currencies (code, exponent, name, max_transfer_minor,"
    " daily_outgoing_limit_minor, transfers_per_minute)"
    " values ('XTS', 2, 'Benchmark money (ISO 4217 testing code)', 100000000,"
    " 900000000000000000, 1000000000) on conflict (code) do nothing"
)
# The framing of sql/bench/transfer_funds.sql: claims and role, then the call, in one statement.
FRAMED_TRANSFER = (
    "select public.transfer_funds(%(src)s::uuid, %(dst)s::uuid, %(amount)s::numeric,"
    " %(currency)s, %(key)s)"
    "  from (select set_config('request.jwt.claims', %(claims)s, true),"
    "               set_config('role', 'authenticated', true) offset 0) as claims_set"
)


@dataclass(frozen=True)
class Customer:
    user_id: str
    claims: str


def _customers(pg: psycopg.Connection[Any], count: int) -> list[Customer]:
    app_metadata = {"provider": "email", "providers": ["email"]}
    made = [(str(uuid.uuid4()), f"hot-{uuid.uuid4().hex[:10]}@example.com") for _ in range(count)]
    pg.execute(
        "insert into auth.users (id, aud, role, email, raw_app_meta_data, raw_user_meta_data,"
        " created_at, updated_at)"
        " select id, 'authenticated', 'authenticated', email, %s::jsonb, '{}', now(), now()"
        "   from unnest(%s::uuid[], %s::text[]) as made (id, email)",
        [json.dumps(app_metadata), [m[0] for m in made], [m[1] for m in made]],
    )
    return [
        Customer(user_id, json.dumps({"sub": user_id, "role": "authenticated",
                                      "aud": "authenticated", "email": email,
                                      "app_metadata": app_metadata}))
        for user_id, email in made
    ]  # fmt: skip


def _open(pg: psycopg.Connection[Any], owner: Customer, funding: str | None) -> str:
    with pg.transaction():
        pg.execute("select set_config('request.jwt.claims', %s, true)", [owner.claims])
        row = pg.execute("select public.open_account(%s, 'checking')", [CURRENCY]).fetchone()
    assert row is not None
    account_id = str(row[0]["id"])
    if funding is not None:
        pg.execute(
            "select public.admin_deposit(%s, %s::numeric, %s, 'hot test funding', %s)",
            [account_id, funding, CURRENCY, str(uuid.uuid4())],
        )
    return account_id


def _transfer(
    pg: psycopg.Connection[Any], owner: Customer, src: str, dst: str, amount: str,
    key: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    row = pg.execute(
        FRAMED_TRANSFER,
        {"src": src, "dst": dst, "amount": amount, "currency": CURRENCY,
         "key": key or str(uuid.uuid4()), "claims": owner.claims},
    ).fetchone()  # fmt: skip
    assert row is not None
    result: dict[str, Any] = row[0]
    return result


def _assert_checks_hold(pg: psycopg.Connection[Any]) -> None:
    for check in CHECKS:
        rows = pg.execute(check.read_text()).fetchall()
        assert rows == [], f"{check.name}: {rows[:5]}"


def _account(pg: psycopg.Connection[Any], account_id: str) -> tuple[int, int]:
    row = pg.execute(
        "select balance, version from public.accounts where id = %s", [account_id]
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _pending(pg: psycopg.Connection[Any], account_id: str) -> int:
    row = pg.execute(
        "select count(*) from public.pending_credits where account_id = %s", [account_id]
    ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def db(stack: StackHandle, pg: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    pg.execute(ADD_CURRENCY)
    return pg


def test_one_statement_framing_sets_claims_and_role_per_transaction(
    db: psycopg.Connection[Any],
) -> None:
    alice, bob = _customers(db, 2)
    alice_account = _open(db, alice, "10.00")
    bob_account = _open(db, bob, None)
    db.execute(
        "create function pg_temp.visible_accounts() returns bigint language sql volatile"
        " as 'select count(*) from public.accounts'"
    )
    probe = (
        "select auth.uid()::text, current_user::text, pg_temp.visible_accounts()"
        "  from (select set_config('request.jwt.claims', %s, true),"
        "               set_config('role', 'authenticated', true) offset 0) as claims_set"
    )
    # Each statement is its own transaction (autocommit): the claims hold for it only.
    assert db.execute(probe, [alice.claims]).fetchone() == (alice.user_id, "authenticated", 1)
    assert db.execute(probe, [bob.claims]).fetchone() == (bob.user_id, "authenticated", 1)
    after = db.execute("select auth.uid(), current_user::text").fetchone()
    assert after == (None, "postgres")

    moved = _transfer(db, alice, alice_account, bob_account, "1.25")
    assert moved["initiated_by"] == alice.user_id
    assert moved["replayed"] is False
    # Bob's claims cannot move Alice's money: ownership is checked against auth.uid().
    refused = _transfer(db, bob, alice_account, bob_account, "1.00")
    assert refused["code"] == "BK005"
    assert _account(db, bob_account)[0] == 125


def test_hot_deferred_account_under_load_keeps_every_invariant(
    db: psycopg.Connection[Any], stack: StackHandle
) -> None:
    customers = _customers(db, USERS)
    accounts = [(_open(db, owner, "1000.00"), owner) for owner in customers]
    hot, hot_owner = accounts[0]
    # A dashboard edit, audited like status and nickname.
    db.execute("update public.accounts set deferred_credits = true where id = %s", [hot])
    audited = db.execute(
        "select count(*) from public.audit_log where row_id = %s and action = 'update'"
        " and (after ->> 'deferred_credits')::boolean", [hot],
    ).fetchone()  # fmt: skip
    assert audited == (1,)
    ids = [account_id for account_id, _ in accounts]
    total_before = sum(_account(db, account_id)[0] for account_id in ids)

    rng = random.Random(20261124)
    jobs: list[tuple[Customer, str, str, str, str]] = []
    for n in range(TRANSFERS):
        if n % 2 == 0:
            source, owner = rng.choice(accounts[1:])
            target = hot
        elif n % 25 == 1:
            source, owner, target = hot, hot_owner, rng.choice(ids[1:])  # debits settle first
        else:
            source, owner = rng.choice(accounts[1:])
            target = rng.choice([i for i in ids[1:] if i != source])
        amount = f"{rng.randint(1, 500) / 100:.2f}"
        jobs.append((owner, source, target, amount, f"hot-{uuid.uuid4()}"))
    jobs += [jobs[i] for i in rng.sample(range(TRANSFERS), TRANSFERS // 10)]
    rng.shuffle(jobs)
    chunks = [jobs[i::THREADS] for i in range(THREADS)]

    def run(chunk: list[tuple[Customer, str, str, str, str]]) -> list[tuple[str, dict[str, Any]]]:
        with psycopg.connect(stack.pg_dsn, autocommit=True) as connection:
            return [(job[4], _transfer(connection, *job)) for job in chunk]

    with ThreadPoolExecutor(THREADS) as pool:
        answered = [pair for chunk in pool.map(run, chunks) for pair in chunk]
    results = [result for _, result in answered]

    assert all("id" in result or result.get("code") == "BK001" for result in results), [
        result for result in results if "id" not in result and result.get("code") != "BK001"
    ][:3]
    ids_per_key: dict[str, set[str]] = {}
    for key, result in answered:
        ids_per_key.setdefault(key, set()).add(str(result.get("id", result.get("code"))))
    assert all(len(found) == 1 for found in ids_per_key.values())  # a repeated key: one answer
    made = db.execute(
        "select count(*) from public.transfers as t join public.idempotency_records as r"
        " on r.transfer_id = t.id where r.key = any(%s)", [list(ids_per_key)],
    ).fetchone()  # fmt: skip
    successes = {key for key, found in ids_per_key.items() if not found & {"BK001"}}
    assert made == (len(successes),)  # one transfer per successful key, never two
    assert _pending(db, hot) > 0
    _assert_checks_hold(db)  # with credits pending

    db.execute("select public.settle_pending_credits()")
    assert _pending(db, hot) == 0
    _assert_checks_hold(db)
    assert sum(_account(db, account_id)[0] for account_id in ids) == total_before


def test_frozen_deferred_account_refuses_credits(db: psycopg.Connection[Any]) -> None:
    sender, receiver = _customers(db, 2)
    source = _open(db, sender, "10.00")
    target = _open(db, receiver, None)
    db.execute("update public.accounts set deferred_credits = true where id = %s", [target])
    db.execute("select public.admin_freeze_account(%s)", [target])
    refused = _transfer(db, sender, source, target, "1.00")
    assert refused["code"] == "BK004"
    assert str(target) in refused["message"]
    assert _pending(db, target) == 0
    assert _account(db, source)[0] == 1000


def test_debit_of_a_deferred_account_settles_first_and_settle_is_idempotent(
    db: psycopg.Connection[Any],
) -> None:
    sender, merchant, other = _customers(db, 3)
    source = _open(db, sender, "10.00")
    shop = _open(db, merchant, None)
    elsewhere = _open(db, other, None)
    db.execute("update public.accounts set deferred_credits = true where id = %s", [shop])
    for amount in ("2.00", "3.00"):
        assert "id" in _transfer(db, sender, source, shop, amount)
    assert _account(db, shop) == (0, 0)
    assert _pending(db, shop) == 2
    _assert_checks_hold(db)

    # 4.00 is only there once the two pending credits are counted.
    spent = _transfer(db, merchant, shop, elsewhere, "4.00")
    assert "id" in spent, spent
    assert _account(db, shop) == (100, 3)
    assert _pending(db, shop) == 0
    history = db.execute(
        "select amount, balance_after, account_version from public.entries"
        " where account_id = %s order by id", [shop],
    ).fetchall()  # fmt: skip
    assert history == [(200, 200, 1), (300, 500, 2), (-400, 100, 3)]

    assert "id" in _transfer(db, sender, source, shop, "1.00")
    assert db.execute("select public.settle_pending_credits(%s)", [shop]).fetchone() == (1,)
    settled = _account(db, shop)
    assert settled == (200, 4)
    assert db.execute("select public.settle_pending_credits(%s)", [shop]).fetchone() == (0,)
    assert db.execute("select public.settle_pending_credits()").fetchone() == (0,)
    assert _account(db, shop) == settled
    _assert_checks_hold(db)


def test_withdrawal_of_a_deferred_account_sees_its_credits(db: psycopg.Connection[Any]) -> None:
    sender, merchant = _customers(db, 2)
    source = _open(db, sender, "10.00")
    shop = _open(db, merchant, None)
    db.execute("update public.accounts set deferred_credits = true where id = %s", [shop])
    assert "id" in _transfer(db, sender, source, shop, "6.00")
    row = db.execute(
        "select public.admin_withdraw(%s, 5.00, %s, 'cash out', %s)",
        [shop, CURRENCY, str(uuid.uuid4())],
    ).fetchone()
    assert row is not None
    assert "id" in row[0], row
    assert _account(db, shop) == (100, 2)
    _assert_checks_hold(db)


def test_pending_credits_follow_rls_and_cannot_be_written(
    db: psycopg.Connection[Any],
    make_user: Callable[..., Any],
    rest: Callable[[str | None], httpx.Client],
) -> None:
    owner, stranger = make_user(), make_user()
    sender = _customers(db, 1)[0]
    source = _open(db, sender, "10.00")
    shop = _open(db, Customer(owner.id, json.dumps({"sub": owner.id, "role": "authenticated"})),
                 None)  # fmt: skip
    db.execute("update public.accounts set deferred_credits = true where id = %s", [shop])
    transfer = _transfer(db, sender, source, shop, "1.00")

    mine = rest(owner.token).get("/pending_credits", params={"account_id": f"eq.{shop}"})
    assert mine.status_code == 200
    assert [p["transfer_id"] for p in mine.json()] == [transfer["id"]]
    theirs = rest(stranger.token).get("/pending_credits", params={"account_id": f"eq.{shop}"})
    assert theirs.status_code == 200
    assert theirs.json() == []
    anon = rest(None).get("/pending_credits")
    assert anon.status_code in (401, 403) or anon.json() == []

    row = {"transfer_id": transfer["id"], "account_id": shop, "amount": 100000,
           "counterparty_account_id": source}  # fmt: skip
    client = rest(owner.token)
    assert client.post("/pending_credits", json=row).status_code in (401, 403)
    patched = client.patch("/pending_credits", params={"account_id": f"eq.{shop}"},
                           json={"amount": 1})  # fmt: skip
    assert patched.status_code in (401, 403)
    deleted = client.delete("/pending_credits", params={"account_id": f"eq.{shop}"})
    assert deleted.status_code in (401, 403)
    settle = client.post("/rpc/settle_pending_credits", json={"p_account_id": shop})
    assert settle.status_code >= 400
    assert settle.json()["code"] == "BK010"
    assert _pending(db, shop) == 1

    # The dashboard (postgres) cannot edit them either: only a settle moves them.
    for statement in ("update public.pending_credits set amount = 1 where account_id = %s",
                      "delete from public.pending_credits where account_id = %s"):  # fmt: skip
        with pytest.raises(psycopg.Error, match="refused"):
            db.execute(statement, [shop])
    assert db.execute("select public.settle_pending_credits(%s)", [shop]).fetchone() == (1,)
