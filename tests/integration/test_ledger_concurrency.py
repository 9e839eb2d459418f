"""The ledger under concurrent load, through PostgREST with real tokens.

Many threads move money among twenty accounts, half of it into one hot
account, with repeated idempotency keys mixed in. Afterwards every query in
sql/checks returns no rows, the money in those accounts is what it was, every
repeated key made one transfer, and no caller ever saw a deadlock or a
serialization failure.
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import ROOT, StackHandle, stack_module

pytestmark = pytest.mark.integration

THREADS = 12
TRANSFERS = 2000
USERS = 10
ACCOUNTS_PER_USER = 2
CHECKS = sorted((ROOT / "sql" / "checks").glob("*.sql"))


def _users(stack: StackHandle, count: int) -> list[tuple[str, str]]:
    """Users as Supabase Auth makes them (one insert, not a process per user), with tokens."""
    app_metadata = {"provider": "email", "providers": ["email"]}
    records = [
        {"id": str(uuid.uuid4()), "email": f"load-{uuid.uuid4().hex[:10]}@example.com",
         "app_metadata": app_metadata, "user_metadata": {}}
        for _ in range(count)
    ]  # fmt: skip
    with psycopg.connect(stack.pg_dsn, autocommit=True) as pg:
        pg.execute(
            "insert into auth.users (id, aud, role, email, raw_app_meta_data,"
            " raw_user_meta_data, created_at, updated_at)"
            " select id, 'authenticated', 'authenticated', email, %s::jsonb, '{}', now(), now()"
            "   from unnest(%s::uuid[], %s::text[]) as made (id, email)",
            [
                json.dumps(app_metadata),
                [r["id"] for r in records],
                [r["email"] for r in records],
            ],
        )
    return [(str(r["id"]), stack_module.mint_token(stack.config, r)) for r in records]


def _open_funded_accounts(
    stack: StackHandle, users: list[tuple[str, str]], per_user: int, amount: str
) -> list[tuple[str, str]]:
    """(account id, owner's token) for `per_user` funded USD accounts of each user."""
    accounts = []
    with httpx.Client(base_url=stack.rest_url, headers={"apikey": stack.anon_key}) as http:
        for _, token in users:
            for _ in range(per_user):
                opened = http.post(
                    "/rpc/open_account", json={"p_currency": "USD", "p_kind": "checking"},
                    headers={"Authorization": f"Bearer {token}"},
                )  # fmt: skip
                assert opened.status_code == 200, opened.text
                accounts.append((opened.json()["id"], token))
    with psycopg.connect(stack.pg_dsn, autocommit=True) as pg:
        for account_id, _ in accounts:
            pg.execute(
                "select public.admin_deposit(%s, %s::numeric, 'USD', 'load funding', %s)",
                [account_id, amount, str(uuid.uuid4())],
            )
    return accounts


def _assert_invariants_hold(stack: StackHandle) -> None:
    with psycopg.connect(stack.pg_dsn, autocommit=True) as pg:
        for check in CHECKS:
            rows = pg.execute(check.read_text()).fetchall()
            assert rows == [], f"{check.name}: {rows[:5]}"


def _balances(stack: StackHandle, ids: list[str]) -> dict[str, int]:
    with psycopg.connect(stack.pg_dsn, autocommit=True) as pg:
        rows = pg.execute(
            "select id::text, balance from public.accounts where id = any(%s::uuid[])", [ids]
        ).fetchall()
    return dict(rows)


def test_concurrent_transfers_with_a_hot_account_keep_every_invariant(
    stack: StackHandle,
) -> None:
    accounts = _open_funded_accounts(stack, _users(stack, USERS), ACCOUNTS_PER_USER, "1000.00")
    ids = [account_id for account_id, _ in accounts]
    hot = ids[0]
    before = _balances(stack, ids)
    rng = random.Random(20261123)

    requests: list[tuple[str, dict[str, Any]]] = []
    for n in range(TRANSFERS):
        source, token = rng.choice(accounts[1:])
        target = hot if n % 2 == 0 else rng.choice([i for i in ids if i != source])
        body = {
            "p_from_account_id": source, "p_to_account_id": target,
            "p_amount": f"{rng.randint(1, 500) / 100:.2f}", "p_currency": "USD",
            "p_idempotency_key": f"load-{uuid.uuid4()}",
        }  # fmt: skip
        requests.append((token, body))
    # One request in ten is sent again with the same key and body, at random times.
    repeats = [requests[i] for i in rng.sample(range(TRANSFERS), TRANSFERS // 10)]
    work = requests + repeats
    rng.shuffle(work)

    local = threading.local()
    clients: list[httpx.Client] = []

    def send(item: tuple[str, dict[str, Any]]) -> tuple[str, int, dict[str, Any]]:
        if not hasattr(local, "http"):
            local.http = httpx.Client(
                base_url=stack.rest_url, headers={"apikey": stack.anon_key}, timeout=30
            )
            clients.append(local.http)
        token, body = item
        response = local.http.post(
            "/rpc/transfer_funds", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        return body["p_idempotency_key"], response.status_code, response.json()

    try:
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            results = list(pool.map(send, work))
    finally:
        for client in clients:
            client.close()

    by_key: dict[str, set[str]] = {}
    for key, status, body in results:
        assert body.get("code") not in ("40001", "40P01"), body
        assert status == 200 or (status == 422 and body["code"] == "BK001"), (status, body)
        if status == 200:
            by_key.setdefault(key, set()).add(body["id"])
    assert all(len(transfer_ids) == 1 for transfer_ids in by_key.values())
    assert sum(1 for _, _, body in results if body.get("replayed")) >= 1

    with psycopg.connect(stack.pg_dsn, autocommit=True) as pg:
        made = pg.execute(
            "select count(*) from public.transfers where from_account_id = any(%s::uuid[])",
            [ids],
        ).fetchone()
    assert made == (len(by_key),)
    after = _balances(stack, ids)
    assert sum(after.values()) == sum(before.values())
    assert after[hot] > before[hot]
    _assert_invariants_hold(stack)


def test_sixteen_identical_concurrent_requests_make_exactly_one_transfer(
    stack: StackHandle,
) -> None:
    (source, token), (target, _) = _open_funded_accounts(stack, _users(stack, 2), 1, "50.00")
    body = {
        "p_from_account_id": source, "p_to_account_id": target, "p_amount": "12.34",
        "p_currency": "USD", "p_idempotency_key": f"same-{uuid.uuid4()}",
    }  # fmt: skip
    start = threading.Barrier(16)

    def send(_: int) -> dict[str, Any]:
        with httpx.Client(
            base_url=stack.rest_url,
            headers={"apikey": stack.anon_key, "Authorization": f"Bearer {token}"},
            timeout=30,
        ) as http:
            start.wait()
            response = http.post("/rpc/transfer_funds", json=body)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(send, range(16)))

    assert len({result["id"] for result in results}) == 1
    assert sorted(result["replayed"] for result in results) == [False] + [True] * 15
    with psycopg.connect(stack.pg_dsn, autocommit=True) as pg:
        made = pg.execute(
            "select count(*) from public.transfers where from_account_id = %s", [source]
        ).fetchone()
    assert made == (1,)
    assert _balances(stack, [source, target]) == {source: 5000 - 1234, target: 5000 + 1234}
    _assert_invariants_hold(stack)
