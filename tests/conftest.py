"""Fixtures shared by every test.

Unit tests use none of these. Integration tests ask for `stack` (or a fixture
built on it), which brings up the isolated `test` stack once per session: a
fresh cluster under `.stack/test` on its own ports (Postgres 25320, PostgREST
25321, functions 28080, gateway 25322 by default), so `make test` never touches
the data of `make run`. The session stops every process of that stack when it
ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest

from scripts import localstack
from scripts.localstack import ROOT

# The tests' name for the package; some test modules import it from here.
stack_module = localstack


@dataclass(frozen=True)
class StackHandle:
    """What a test needs to reach the running test stack."""

    config: localstack.Stack
    pg_dsn: str
    api_url: str  # the gateway: what a client's SUPABASE_URL is
    rest_url: str  # PostgREST directly
    functions_url: str  # the functions server directly
    anon_key: str
    service_key: str
    jwt_secret: str


@dataclass(frozen=True)
class TestUser:
    id: str
    email: str
    token: str
    record: dict[str, Any]


@pytest.fixture(scope="session")
def stack() -> Iterator[StackHandle]:
    config = stack_module.Stack.from_env("test")
    stack_module.reset(config)
    has_functions = (ROOT / "functions" / "main.py").exists()
    try:
        stack_module.up(config, functions=has_functions)
    except stack_module.StackError as error:
        stack_module.down(config)
        pytest.exit(f"the test stack did not start: {error}", returncode=3)
    try:
        yield StackHandle(
            config=config,
            pg_dsn=config.db_url,
            api_url=config.api_url,
            rest_url=config.rest_url,
            functions_url=config.functions_url,
            anon_key=config.api_key("anon"),
            service_key=config.api_key("service_role"),
            jwt_secret=config.jwt_secret,
        )
    finally:
        stack_module.down(config)


@pytest.fixture
def pg(stack: StackHandle) -> Iterator[psycopg.Connection[Any]]:
    """A connection as `postgres`, the role the dashboard's SQL editor uses."""
    with psycopg.connect(stack.pg_dsn, autocommit=True) as connection:
        yield connection


@pytest.fixture
def make_user(stack: StackHandle) -> Callable[..., TestUser]:
    counter = {"n": 0}

    def make(
        role: str = "customer",
        email: str | None = None,
        user_metadata: dict[str, Any] | None = None,
        algorithm: str = "HS256",
    ) -> TestUser:
        if email is None:
            import uuid

            counter["n"] += 1
            email = f"{role}-{uuid.uuid4().hex[:10]}@example.com"
        record = stack_module.create_user(
            stack.config, email, admin=role == "admin", user_metadata=user_metadata
        )
        token = stack_module.mint_token(stack.config, record, algorithm=algorithm)
        return TestUser(id=str(record["id"]), email=email, token=token, record=record)

    return make


@pytest.fixture
def rest(stack: StackHandle) -> Iterator[Callable[[str | None], httpx.Client]]:
    """httpx clients on PostgREST, as a frontend holding the anon key would call it."""
    clients: list[httpx.Client] = []

    def client(token: str | None = None) -> httpx.Client:
        headers = {"apikey": stack.anon_key}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        made = httpx.Client(base_url=stack.rest_url, headers=headers, timeout=10)
        clients.append(made)
        return made

    yield client
    for made in clients:
        made.close()
