"""Customers, funded accounts and calls for the reversal and batch tests.

Each test makes its own customers (Supabase Auth users with minted tokens) and
accounts through the ledger's own RPCs; money arrives by a staff deposit made
from the dashboard (`postgres`). `Customer.fn` calls the HTTP functions and
`Customer.rpc` calls PostgREST directly, as a frontend holding the anon key can.
"""

from __future__ import annotations

import random
import string
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg

from tests.conftest import ROOT, StackHandle, stack_module

CHECKS = sorted((ROOT / "sql" / "checks").glob("*.sql"))


def new_key() -> str:
    return f"test-{uuid.uuid4()}"


def unused_currency_code(pg: psycopg.Connection[Any]) -> str:
    """An unused code: X and two random letters, none of the currencies already there."""
    taken = {row[0] for row in pg.execute("select code from public.currencies").fetchall()}
    free = [f"X{a}{b}" for a in string.ascii_uppercase for b in string.ascii_uppercase]
    return random.choice([code for code in free if code not in taken])


@dataclass
class Customer:
    stack: StackHandle
    id: str
    token: str
    accounts: list[str] = field(default_factory=list)

    def _headers(self, key: str | None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}", "apikey": self.stack.anon_key}
        if key is not None:
            headers["Idempotency-Key"] = key
        return headers

    def fn(
        self, method: str, path: str, body: Any = None, key: str | None = None
    ) -> httpx.Response:
        """A call to the HTTP functions with this customer's token."""
        with httpx.Client(base_url=self.stack.functions_url, timeout=30) as http:
            return http.request(method, path, json=body, headers=self._headers(key))

    def rpc(self, name: str, **args: Any) -> httpx.Response:
        """A direct PostgREST call, skipping the functions."""
        with httpx.Client(base_url=self.stack.rest_url, timeout=30) as http:
            return http.post(f"/rpc/{name}", json=args, headers=self._headers(None))

    def select(self, table: str, **filters: str) -> httpx.Response:
        with httpx.Client(base_url=self.stack.rest_url, timeout=30) as http:
            return http.get(f"/{table}", params=filters, headers=self._headers(None))

    def open_account(self, currency: str = "USD") -> str:
        opened = self.rpc("open_account", p_currency=currency, p_kind="checking")
        assert opened.status_code == 200, opened.text
        account_id: str = opened.json()["id"]
        self.accounts.append(account_id)
        return account_id


def customer(stack: StackHandle, *, admin: bool = False) -> Customer:
    email = f"money-{uuid.uuid4().hex[:10]}@example.com"
    record = stack_module.create_user(stack.config, email, admin=admin)
    return Customer(stack, str(record["id"]), stack_module.mint_token(stack.config, record))


def deposit(stack: StackHandle, account_id: str, amount: str, currency: str = "USD") -> str:
    with psycopg.connect(stack.pg_dsn, autocommit=True) as pg:
        row = pg.execute(
            "select public.admin_deposit(%s, %s::numeric, %s, 'test funding', %s)",
            [account_id, amount, currency, new_key()],
        ).fetchone()
    assert row is not None
    transfer_id: str = row[0]["id"]
    return transfer_id


def balances(stack: StackHandle, *ids: str) -> list[int]:
    with psycopg.connect(stack.pg_dsn, autocommit=True) as pg:
        rows = dict(
            pg.execute(
                "select id::text, balance from public.accounts where id = any(%s::uuid[])",
                [list(ids)],
            ).fetchall()
        )
    return [int(rows[i]) for i in ids]


def set_status(stack: StackHandle, account_id: str, status: str) -> None:
    with psycopg.connect(stack.pg_dsn, autocommit=True) as pg:
        pg.execute("update public.accounts set status = %s where id = %s", [status, account_id])


def assert_invariants(stack: StackHandle) -> None:
    with psycopg.connect(stack.pg_dsn, autocommit=True) as pg:
        for check in CHECKS:
            rows = pg.execute(check.read_text()).fetchall()
            assert rows == [], f"{check.name}: {rows[:5]}"


@contextmanager
def dashboard(stack: StackHandle) -> Iterator[psycopg.Connection[Any]]:
    """`postgres` in a transaction that is always rolled back, every custom setting on."""
    claims = '{"role": "authenticated", "app_metadata": {"role": "admin"}}'
    with (
        psycopg.connect(stack.pg_dsn, autocommit=True) as pg,
        pg.transaction(force_rollback=True),
    ):
        for name, value in (("ledger.posting", "on"), ("request.jwt.claims", claims)):
            pg.execute("select set_config(%s, %s, true)", [name, value])
        yield pg
