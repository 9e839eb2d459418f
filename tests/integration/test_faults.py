"""Transfers through the functions while the database and PostgREST are killed under them.

Several threads post transfers to the functions, each with its own idempotency
key, while the test kills, with SIGKILL, first a Postgres backend serving
PostgREST (twice: the postmaster then restarts every backend, so every
connection drops at once) and then PostgREST itself, which it starts again
with the stack's own code. A client must be able to trust every answer:

- no answer is a 500 (a client told 500 may not retry, and may have paid);
- every 201 names a transfer that exists afterwards;
- every 503, retried with its key, ends in a 201 or its replay, never twice;
- every invariant in sql/checks holds afterwards.

Each step waits by polling (a successful transfer after the fault, the
database accepting connections), never by a fixed sleep, and the whole test is
bounded well under a minute.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import pytest

from scripts.localstack import postgrest, processes
from tests.conftest import ROOT, StackHandle, stack_module

pytestmark = pytest.mark.integration

THREADS = 4
BACKEND_KILLS = 3
CHECKS = sorted((ROOT / "sql" / "checks").glob("*.sql"))
# Transfers that must succeed after each fault before the next one: the system recovered.
SUCCESSES_AFTER_FAULT = 50
STEP_TIMEOUT_SECONDS = 30.0
RETRY_ATTEMPTS = 40
AMOUNT = "0.01"


@dataclass
class Sent:
    key: str
    body: dict[str, Any]
    token: str
    status: int  # 0: no HTTP answer at all
    answer: Any = None
    replayed: bool = False


@dataclass
class Load:
    """What the worker threads sent and were answered, shared under a lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: list[Sent] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def finish(self) -> list[Sent]:
        """Stop the workers, wait for their last answers, and return everything sent."""
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)
        assert not any(thread.is_alive() for thread in self.threads), "a worker hangs"
        with self.lock:
            return list(self.sent)

    def record(self, item: Sent) -> None:
        with self.lock:
            self.sent.append(item)

    def successes(self) -> int:
        with self.lock:
            return sum(1 for item in self.sent if item.status == 201)


def _customers(stack: StackHandle, count: int) -> list[tuple[str, str, str]]:
    """(token, funded account, second account) per customer, opened through the functions."""
    admin = stack_module.mint_token(
        stack.config, stack_module.create_user(stack.config, "fault-admin@example.com", admin=True)
    )
    made = []
    with httpx.Client(base_url=stack.functions_url, timeout=10) as http:
        for n in range(count):
            email = f"fault-{n}-{uuid.uuid4().hex[:8]}@example.com"
            token = stack_module.mint_token(
                stack.config, stack_module.create_user(stack.config, email)
            )
            headers = {"Authorization": f"Bearer {token}"}
            ids = []
            for _ in range(2):
                opened = http.post(
                    "/accounts", json={"currency": "USD", "kind": "checking"}, headers=headers
                )
                assert opened.status_code == 201, opened.text
                ids.append(opened.json()["id"])
            deposit = http.post(
                "/admin/deposits",
                json={"account_id": ids[0], "amount": "1000.00", "currency": "USD",
                      "reference": "fault test funding"},
                headers={"Authorization": f"Bearer {admin}", "Idempotency-Key": str(uuid.uuid4())},
            )  # fmt: skip
            assert deposit.status_code == 201, deposit.text
            made.append((token, ids[0], ids[1]))
    return made


def _post(http: httpx.Client, key: str, body: dict[str, Any], token: str) -> Sent:
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    try:
        response = http.post("/transfers", json=body, headers=headers)
    except httpx.HTTPError:
        return Sent(key, body, token, 0)
    try:
        answer = response.json()
    except ValueError:
        answer = response.text
    replayed = response.headers.get("Idempotent-Replayed") == "true"
    return Sent(key, body, token, response.status_code, answer, replayed)


def _worker(stack: StackHandle, load: Load, customer: tuple[str, str, str]) -> None:
    token, source, target = customer
    body = {"from_account_id": source, "to_account_id": target, "amount": AMOUNT,
            "currency": "USD", "description": "fault test"}  # fmt: skip
    with httpx.Client(base_url=stack.functions_url, timeout=15) as http:
        while not load.stop.is_set():
            sent = _post(http, f"fault-{uuid.uuid4()}", body, token)
            load.record(sent)
            if sent.status == 503:
                # A client waits before its next call; a busy loop only measures itself.
                load.stop.wait(0.05)


def _wait_for(what: str, condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + STEP_TIMEOUT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


def _database_answers(stack: StackHandle) -> bool:
    try:
        with psycopg.connect(stack.pg_dsn, autocommit=True, connect_timeout=2) as pg:
            pg.execute("select 1")
    except psycopg.OperationalError:
        return False
    return True


def _postgrest_backends(stack: StackHandle) -> list[int]:
    """Backends PostgREST is using, those in the middle of a statement first."""
    with psycopg.connect(stack.pg_dsn, autocommit=True) as pg:
        rows = pg.execute(
            "select pid from pg_stat_activity where application_name = 'postgrest'"
            " and backend_type = 'client backend' order by state = 'active' desc, pid"
        ).fetchall()
    return [int(row[0]) for row in rows]


def _postgrest_backend(stack: StackHandle) -> int:
    """A backend PostgREST is using, waiting while it has none.

    PostgREST's pool opens connections only as requests need them, and while it
    recovers from a crash it replaces them, so a single look at
    pg_stat_activity may find none even when transfers are going through.
    """
    found: list[int] = []

    def holds_one() -> bool:
        found[:] = _postgrest_backends(stack)
        return bool(found)

    _wait_for("a PostgREST connection to kill", holds_one)
    return found[0]


def _kill_a_backend(stack: StackHandle) -> None:
    for _ in range(3):
        try:
            os.kill(_postgrest_backend(stack), signal.SIGKILL)
        except ProcessLookupError:
            continue  # PostgREST closed that connection in the meantime: pick another
        return
    pytest.fail("every PostgREST backend picked was gone before it could be killed")


def _kill_and_restart_postgrest(stack: StackHandle) -> None:
    pidfile = stack.config.run_dir / "postgrest.pid"
    pid = int(pidfile.read_text().split()[0])
    os.kill(pid, signal.SIGKILL)
    # Reap the killed child and forget its pidfile, then start it the way the stack does.
    processes.stop_pid(pidfile, "postgrest")
    postgrest.start(stack.config)


def _under_fault(stack: StackHandle, load: Load, fault: Callable[[StackHandle], None]) -> None:
    before = load.successes()
    started = time.monotonic()
    fault(stack)
    faulted = time.monotonic()
    _wait_for("the database after the fault", lambda: _database_answers(stack))
    db_back = time.monotonic()
    _wait_for(
        f"{SUCCESSES_AFTER_FAULT} transfers after the fault",
        lambda: load.successes() >= before + SUCCESSES_AFTER_FAULT,
    )
    print(
        f"\n{fault.__name__}: fault {faulted - started:.2f}s, db {db_back - faulted:.2f}s, "
        f"transfers again {time.monotonic() - db_back:.2f}s"
    )


def _retry_until_settled(stack: StackHandle, item: Sent) -> Sent:
    """The same key and body again until the answer is final (bounded)."""
    with httpx.Client(base_url=stack.functions_url, timeout=15) as http:
        answer = item
        for _ in range(RETRY_ATTEMPTS):
            answer = _post(http, item.key, item.body, item.token)
            if answer.status not in (0, 503):
                return answer
            time.sleep(0.25)
    return answer


@pytest.fixture
def load(stack: StackHandle) -> Iterator[Load]:
    shared = Load()
    for customer in _customers(stack, THREADS):
        thread = threading.Thread(target=_worker, args=(stack, shared, customer), daemon=True)
        shared.threads.append(thread)
        thread.start()
    try:
        yield shared
    finally:
        shared.finish()


def test_transfers_survive_killed_backends_and_a_killed_postgrest(
    stack: StackHandle, load: Load
) -> None:
    _wait_for("the first transfers", lambda: load.successes() >= SUCCESSES_AFTER_FAULT)
    for _ in range(BACKEND_KILLS):
        _under_fault(stack, load, _kill_a_backend)
    _under_fault(stack, load, _kill_and_restart_postgrest)
    sent = load.finish()

    statuses = Counter(item.status for item in sent)
    unsettled = [item for item in sent if item.status in (0, 500, 503)]
    settled = {item.key: _retry_until_settled(stack, item) for item in unsettled}
    outcomes = Counter(_outcome(item, settled) for item in unsettled)
    acknowledged = {item.key: item.answer["id"] for item in sent if item.status == 201}
    acknowledged |= {key: last.answer["id"] for key, last in settled.items() if last.status == 201}
    lost, made = _missing_and_made(stack, sent, acknowledged)
    summary = (
        f"{len(sent)} transfers sent under fault, answers {dict(statuses)}; retried with "
        f"their keys, (first, last, replayed): {dict(outcomes)}; acknowledged "
        f"{len(acknowledged)}, lost {len(lost)}, transfers made {made}"
    )
    print(f"\n{summary}")

    assert not lost, f"acknowledged transfers are missing: {sorted(lost)[:5]}; {summary}"
    # One transfer per key answered 201: none made twice, none made without an answer.
    assert made == len(set(acknowledged.values())) == len(acknowledged), summary
    assert statuses[500] == 0, summary
    assert statuses[0] == 0, summary
    assert set(statuses) <= {201, 503}, summary
    assert all(last.status == 201 for last in settled.values()), summary
    _assert_checks_hold(stack)


def _outcome(item: Sent, settled: dict[str, Sent]) -> tuple[int, int, bool]:
    last = settled[item.key]
    return item.status, last.status, last.replayed


def _missing_and_made(
    stack: StackHandle, sent: list[Sent], acknowledged: dict[str, str]
) -> tuple[set[str], int]:
    """Acknowledged transfer ids the database lacks, and how many the senders' accounts made."""
    sources = sorted({item.body["from_account_id"] for item in sent})
    with psycopg.connect(stack.pg_dsn, autocommit=True) as pg:
        rows = pg.execute(
            "select id::text from public.transfers where id = any(%s::uuid[])",
            [list(acknowledged.values())],
        ).fetchall()
        made = pg.execute(
            "select count(*) from public.transfers"
            " where from_account_id = any(%s::uuid[]) and kind = 'transfer'",
            [sources],
        ).fetchone()
    assert made is not None
    return set(acknowledged.values()) - {row[0] for row in rows}, int(made[0])


def _assert_checks_hold(stack: StackHandle) -> None:
    with psycopg.connect(stack.pg_dsn, autocommit=True) as pg:
        for check in CHECKS:
            rows = pg.execute(check.read_text()).fetchall()
            assert rows == [], f"{check.name}: {rows[:5]}"
