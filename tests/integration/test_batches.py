"""Atomic batches on the real stack: up to 100 transfers posted all or none.

`POST /transfers/batch` (and the `transfer_funds_batch` RPC for direct PostgREST
callers) posts every item in one transaction under one idempotency key; the first
refusal rolls the whole batch back and is stored, naming the item's index and code;
every account is locked once, in id order, before the first posting.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import StackHandle
from tests.integration.money_support import (
    Customer,
    assert_invariants,
    balances,
    customer,
    dashboard,
    deposit,
    new_key,
    set_status,
)

pytestmark = pytest.mark.integration


def _item(
    source: str, target: str, amount: str, currency: str = "USD", **extra: Any
) -> dict[str, Any]:
    return {"from_account_id": source, "to_account_id": target, "amount": amount,
            "currency": currency, **extra}  # fmt: skip


def _batch(who: Customer, items: list[dict[str, Any]], key: str | None = None) -> httpx.Response:
    return who.fn("POST", "/transfers/batch", {"transfers": items}, key or new_key())


def _error(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


def _setup(
    stack: StackHandle, accounts: int = 3, funds: str = "100.00"
) -> tuple[Customer, Customer]:
    """Alice with `accounts` accounts, the first funded; Bob with one."""
    alice, bob = customer(stack), customer(stack)
    for _ in range(accounts):
        alice.open_account()
    bob.open_account()
    deposit(stack, alice.accounts[0], funds)
    return alice, bob


def _transfer_count(stack: StackHandle, *accounts: str) -> int:
    with psycopg.connect(stack.pg_dsn, autocommit=True) as pg:
        row = pg.execute(
            "select count(*) from public.transfers where kind = 'transfer'"
            " and (from_account_id = any(%s::uuid[]) or to_account_id = any(%s::uuid[]))",
            [list(accounts), list(accounts)],
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_batch_posts_every_transfer_in_order_and_replays_its_answer(stack: StackHandle) -> None:
    alice, bob = _setup(stack)
    a0, a1, a2 = alice.accounts
    items = [
        _item(a0, a1, "10.00", description="first"),
        _item(a1, a2, "4.00"),  # spends what the item before it brought
        _item(a0, bob.accounts[0], "1.25"),
    ]
    key = new_key()
    first = _batch(alice, items, key)
    assert first.status_code == 201, first.text
    body = first.json()
    assert [t["amount"] for t in body["transfers"]] == ["10.00", "4.00", "1.25"]
    assert body["transfers"][0]["description"] == "first"
    assert balances(stack, a0, a1, a2, bob.accounts[0]) == [8875, 600, 400, 125]
    again = _batch(alice, items, key)
    assert again.status_code == 201
    assert again.json() == body
    assert again.headers["Idempotent-Replayed"] == "true"
    shown = bob.fn("GET", f"/transfers/{body['transfers'][2]['id']}")
    assert shown.status_code == 200
    other = _batch(alice, items[:2], key)
    assert other.status_code == 409
    assert _error(other)["code"] == "idempotency_key_reused"
    assert balances(stack, a0) == [8875]
    assert_invariants(stack)


def test_a_refused_item_rolls_the_whole_batch_back_and_names_its_index(
    stack: StackHandle,
) -> None:
    alice, bob = _setup(stack)
    a0, a1, _ = alice.accounts
    items = [_item(a0, a1, "10.00"), _item(a0, bob.accounts[0], "20.00"),
             _item(a1, bob.accounts[0], "10.01")]  # fmt: skip
    key = new_key()
    refused = _batch(alice, items, key)
    assert refused.status_code == 422, refused.text
    error = _error(refused)
    assert error["code"] == "insufficient_funds"
    assert error["details"] == {"index": 2, "code": "insufficient_funds", "details": None}
    assert error["message"].startswith("transfers[2]: ")
    assert balances(stack, a0, a1, bob.accounts[0]) == [10000, 0, 0]
    assert _transfer_count(stack, a0, a1) == 0
    replayed = _batch(alice, items, key)
    assert replayed.status_code == 422
    assert _error(replayed)["details"] == error["details"]
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert_invariants(stack)


def test_each_refusal_code_names_the_failing_item(stack: StackHandle) -> None:
    alice, bob = _setup(stack)
    a0, a1, a2 = alice.accounts
    euro = alice.open_account("EUR")
    set_status(stack, a2, "frozen")
    cases = [
        (_item(bob.accounts[0], a1, "1.00"), 404, "not_found", None),
        (_item(a0, a2, "1.00"), 409, "account_inactive", "frozen"),
        (_item(a0, euro, "1.00"), 422, "currency_mismatch", None),
        (_item(a0, a0, "1.00"), 422, "same_account", None),
        (_item(a0, a1, "1000000.01"), 422, "limit_exceeded", "max_transfer_minor"),
    ]
    for item, status, code, details in cases:
        response = _batch(alice, [_item(a0, a1, "1.00"), item])
        assert response.status_code == status, (item, response.text)
        assert _error(response)["details"] == {"index": 1, "code": code, "details": details}
    assert balances(stack, a0, a1) == [10000, 0]


def test_the_daily_limit_counts_the_whole_batch(stack: StackHandle) -> None:
    alice, _ = _setup(stack, funds="10.00")
    a0, a1, _ = alice.accounts
    # Six transfers under the per-transfer limit whose sum is over the daily 5,000,000.
    items = [_item(a0, a1, "999999.00") for _ in range(6)]
    refused = _batch(alice, items)
    assert refused.status_code == 422
    assert _error(refused)["details"] == {
        "index": 0,
        "code": "limit_exceeded",
        "details": "daily_outgoing_limit_minor",
    }
    # The refused batch's amounts are given back to the day's total.
    assert _batch(alice, [_item(a0, a1, "1.00")]).status_code == 201


def test_a_batch_counts_once_in_the_rate_limit_window(stack: StackHandle) -> None:
    alice, _ = _setup(stack)
    a0, a1, _ = alice.accounts
    assert _batch(alice, [_item(a0, a1, "0.01") for _ in range(20)]).status_code == 201
    with psycopg.connect(stack.pg_dsn, autocommit=True) as pg:
        row = pg.execute(
            "select window_count from public.transfer_limits"
            " where user_id = %s and currency = 'USD'",
            [alice.id],
        ).fetchone()
    assert row == (1,)


def test_invalid_items_are_named_by_their_path(stack: StackHandle) -> None:
    alice, _ = _setup(stack)
    a0, a1, _ = alice.accounts
    cases = [
        ([_item(a0, a1, "1.00"), _item(a0, a1, "1.001")], "transfers.1.amount"),
        ([_item(a0, a1, "1.00", "XYZ")], "transfers.0.currency"),
        ([_item(a0, "not-an-id", "1.00")], "transfers.0.to_account_id"),
        ([_item(a0, a1, "1.00")] * 101, "transfers"),
        ([], "transfers"),
    ]
    for items, field in cases:
        response = _batch(alice, items)
        assert response.status_code == 422, response.text
        assert field in [problem["field"] for problem in _error(response)["details"]], response.text
    missing_key = alice.fn("POST", "/transfers/batch", {"transfers": [_item(a0, a1, "1.00")]})
    assert missing_key.status_code == 400
    assert _error(missing_key)["code"] == "idempotency_key_required"


def test_the_rpc_validates_items_like_transfer_funds(stack: StackHandle) -> None:
    alice, _ = _setup(stack)
    a0, a1, _ = alice.accounts
    cases = [
        ([_item(a0, a1, "1.001")], "k1", "p_transfers.0.amount"),
        ([_item(a0, a1, "0")], "k2", "p_transfers.0.amount"),
        ([_item(a0, a1, "1.00", "JPY") | {"amount": "1.5"}], "k3", "p_transfers.0.amount"),
        ([{"from_account_id": a0, "to_account_id": a1, "currency": "USD"}], "k4",
         "p_transfers.0.amount"),
        ([_item(a0, "x", "1.00")], "k5", "p_transfers.0.to_account_id"),
        ([_item(a0, a1, "1.00", description="d" * 281)], "k6", "p_transfers.0.description"),
        ([_item(a0, a1, "1.00")] * 101, "k7", "p_transfers"),
        ([_item(a0, a1, "1.00")], "bad key!", "p_idempotency_key"),
    ]  # fmt: skip
    for items, key, details in cases:
        response = alice.rpc("transfer_funds_batch", p_transfers=items, p_idempotency_key=key)
        assert response.status_code == 400, response.text
        assert (response.json()["code"], response.json()["details"]) == ("BK009", details)
    assert balances(stack, a0) == [10000]


def test_a_direct_postgrest_batch_cannot_move_someone_elses_money(stack: StackHandle) -> None:
    alice, _ = _setup(stack)
    mallory = customer(stack)
    mallory.open_account()
    deposit(stack, mallory.accounts[0], "1.00")
    items = [_item(mallory.accounts[0], alice.accounts[0], "0.01"),
             _item(alice.accounts[0], mallory.accounts[0], "50.00")]  # fmt: skip
    response = mallory.rpc("transfer_funds_batch", p_transfers=items, p_idempotency_key=new_key())
    assert response.status_code == 404, response.text
    assert response.json()["code"] == "BK005"
    assert response.json()["details"] == '{"index": 1, "details": null}'
    assert balances(stack, alice.accounts[0], mallory.accounts[0]) == [10000, 100]


def test_sixteen_identical_concurrent_batches_make_one_batch(stack: StackHandle) -> None:
    alice, bob = _setup(stack)
    a0, a1, a2 = alice.accounts
    items = [_item(a0, a1, "1.00"), _item(a0, a2, "2.00"), _item(a0, bob.accounts[0], "3.00")]
    key = new_key()
    barrier = threading.Barrier(16)

    def send(_: int) -> httpx.Response:
        barrier.wait()
        return _batch(alice, items, key)

    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(send, range(16)))
    assert [r.status_code for r in responses] == [201] * 16, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(1 for r in responses if "Idempotent-Replayed" not in r.headers) == 1
    assert balances(stack, a0, a1, a2, bob.accounts[0]) == [9400, 100, 200, 300]
    with psycopg.connect(stack.pg_dsn, autocommit=True) as pg:
        row = pg.execute(
            "select count(*) from public.transfer_batches where initiated_by = %s", [alice.id]
        ).fetchone()
    assert row == (1,)


def test_crossing_batches_never_deadlock(stack: StackHandle) -> None:
    """Batches locking the same accounts from both ends: one sorted order, no deadlock."""
    alice, _ = _setup(stack, accounts=4, funds="1000.00")
    ids = alice.accounts
    for account in ids[1:]:
        deposit(stack, account, "1000.00")
    forward = [_item(ids[i], ids[i + 1], "0.01") for i in range(3)]
    backward = [_item(ids[i + 1], ids[i], "0.01") for i in reversed(range(3))]

    def send(n: int) -> int:
        return _batch(alice, forward if n % 2 else backward).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(send, range(64)))
    assert statuses == [201] * 64, statuses
    assert balances(stack, *ids) == [100000] * 4
    assert_invariants(stack)


def test_a_batch_into_a_deferred_credit_account_leaves_pending_credits(stack: StackHandle) -> None:
    alice, bob = _setup(stack)
    with psycopg.connect(stack.pg_dsn, autocommit=True) as pg:
        pg.execute("update public.accounts set deferred_credits = true where id = %s",
                   [bob.accounts[0]])  # fmt: skip
    a0 = alice.accounts[0]
    response = _batch(
        alice, [_item(a0, bob.accounts[0], "1.00"), _item(a0, bob.accounts[0], "2.00")]
    )
    assert response.status_code == 201, response.text
    assert_invariants(stack)
    with psycopg.connect(stack.pg_dsn, autocommit=True) as pg:
        pg.execute("select public.settle_pending_credits(%s)", [bob.accounts[0]])
    assert balances(stack, a0, bob.accounts[0]) == [9700, 300]
    assert_invariants(stack)


# RLS and the dashboard ------------------------------------------------------------


def test_batches_are_visible_to_their_sender_and_admins_only(stack: StackHandle) -> None:
    alice, bob = _setup(stack)
    admin = customer(stack, admin=True)
    batch = _batch(alice, [_item(alice.accounts[0], bob.accounts[0], "1.00")]).json()
    for who, expected in ((alice, 1), (admin, 1), (bob, 0)):
        batches = who.select("transfer_batches", id=f"eq.{batch['id']}", select="id,item_count")
        items = who.select("transfer_batch_items", batch_id=f"eq.{batch['id']}", select="index")
        assert (batches.status_code, items.status_code) == (200, 200), batches.text + items.text
        assert (len(batches.json()), len(items.json())) == (expected, expected)
    with httpx.Client(base_url=stack.rest_url, timeout=10) as http:
        headers = {"apikey": stack.anon_key, "Authorization": f"Bearer {alice.token}"}
        where = {"id": f"eq.{batch['id']}"}
        attempts = [
            http.post("/transfer_batches", headers=headers,
                      json={"id": batch["id"], "initiated_by": alice.id, "item_count": 1}),
            http.patch("/transfer_batches", params=where, headers=headers, json={"item_count": 2}),
            http.delete("/transfer_batches", params=where, headers=headers),
            http.delete("/transfer_batch_items", params={"batch_id": f"eq.{batch['id']}"},
                        headers=headers),
        ]  # fmt: skip
    for attempt in attempts:
        assert attempt.status_code in (401, 403), attempt.text


@pytest.mark.parametrize(
    "sql",
    [
        "update public.transfer_batches set item_count = 2 where id = %s",
        "delete from public.transfer_batches where id = %s",
        "truncate public.transfer_batches cascade",
        "update public.transfer_batch_items set index = 5 where batch_id = %s",
        "delete from public.transfer_batch_items where batch_id = %s",
        "truncate public.transfer_batch_items",
        "insert into public.transfer_batches (id, initiated_by, item_count)"
        " select gen_random_uuid(), initiated_by, 1 from public.transfer_batches where id = %s",
    ],
)
def test_the_dashboard_cannot_edit_batches(stack: StackHandle, sql: str) -> None:
    alice, bob = _setup(stack)
    batch = _batch(alice, [_item(alice.accounts[0], bob.accounts[0], "1.00")]).json()
    with pytest.raises(psycopg.Error) as refused, dashboard(stack) as pg:
        pg.execute(sql, [batch["id"]] if "%s" in sql else [])
    assert refused.value.sqlstate in {"BK011", "0A000"}
