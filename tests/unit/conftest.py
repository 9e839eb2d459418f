"""Fixtures for unit tests: the functions through functions-framework's ASGI app and
Starlette's test client, PostgREST and the JWKS endpoint stubbed with respx, tokens
minted locally. respx stubs the production client itself: it mocks at the
`httpx.AsyncClient` level, so whichever transport the settings choose is bypassed."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import respx
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from functions_framework.aio import create_asgi_app
from starlette.testclient import TestClient

from functions.core import reset_runtime

ROOT = Path(__file__).resolve().parents[2]
MAIN = str(ROOT / "functions" / "main.py")

SUPABASE_URL = "http://supabase.test"
REST = f"{SUPABASE_URL}/rest/v1"
JWKS_URL = f"{SUPABASE_URL}/auth/v1/.well-known/jwks.json"
ISSUER = f"{SUPABASE_URL}/auth/v1"
SECRET = "unit-test-jwt-secret-that-is-long-enough-0123456789"
ANON_KEY = "anon-key-for-unit-tests"
SERVICE_KEY = "service-role-key-that-must-never-be-sent"
ORIGIN = "https://app.example.com"
USER_ID = "11111111-1111-4111-8111-111111111111"
ACCOUNT_ID = "22222222-2222-4222-8222-222222222222"
OTHER_ACCOUNT_ID = "33333333-3333-4333-8333-333333333333"
TRANSFER_ID = "44444444-4444-4444-8444-444444444444"
CURRENCIES = [
    {"code": "USD", "exponent": 2},
    {"code": "JPY", "exponent": 0},
    {"code": "KWD", "exponent": 3},
]


@dataclass(frozen=True)
class Keys:
    es256: ec.EllipticCurvePrivateKey
    rs256: rsa.RSAPrivateKey

    def jwks(self) -> dict[str, Any]:
        es = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.es256.public_key()))
        rs = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.rs256.public_key()))
        es.update(kid="es-key", alg="ES256", use="sig")
        rs.update(kid="rs-key", alg="RS256", use="sig")
        return {"keys": [es, rs]}


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys(
        es256=ec.generate_private_key(ec.SECP256R1()),
        rs256=rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "sub": USER_ID,
        "aud": "authenticated",
        "exp": now + 600,
        "iat": now,
        "role": "authenticated",
        "app_metadata": {"provider": "email"},
        "user_metadata": {},
    }
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


def hs256_token(**overrides: Any) -> str:
    return jwt.encode(claims(**overrides), SECRET, algorithm="HS256")


def admin_token() -> str:
    return hs256_token(app_metadata={"provider": "email", "role": "admin"})


def auth(token: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token or hs256_token()}"}


def money_headers(key: str = "key-1", token: str | None = None) -> dict[str, str]:
    return {**auth(token), "Idempotency-Key": key}


def account_row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": ACCOUNT_ID,
        "account_number": "LB-0000-0001",
        "owner_id": USER_ID,
        "kind": "checking",
        "currency": "USD",
        "nickname": "main",
        "status": "active",
        "balance": 123456,
        "overdraft_limit": 5000,
        "version": 3,
        "created_at": "2026-01-02T03:04:05.123456+00:00",
        "updated_at": "2026-01-02T03:04:05.123456+00:00",
    }
    row.update(overrides)
    return row


def transfer_row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": TRANSFER_ID,
        "kind": "transfer",
        "from_account_id": ACCOUNT_ID,
        "to_account_id": OTHER_ACCOUNT_ID,
        "amount": 1234,
        "currency": "USD",
        "description": "rent",
        "status": "posted",
        "initiated_by": USER_ID,
        "created_at": "2026-01-02T03:04:05+00:00",
        "replayed": False,
    }
    row.update(overrides)
    return row


def entry_row(entry_id: int, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": entry_id,
        "transfer_id": str(uuid.UUID(int=entry_id)),
        "account_id": ACCOUNT_ID,
        "amount": -100,
        "balance_after": 10_000 - 100 * entry_id,
        "description": f"entry {entry_id}",
        "counterparty_account_id": OTHER_ACCOUNT_ID,
        "created_at": "2026-01-15T10:00:00+00:00",
    }
    row.update(overrides)
    return row


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "ENVIRONMENT": "local",
        "SUPABASE_URL": SUPABASE_URL,
        "SUPABASE_ANON_KEY": ANON_KEY,
        "SUPABASE_SERVICE_ROLE_KEY": SERVICE_KEY,
        "SUPABASE_JWT_SECRET": SECRET,
        "SUPABASE_JWT_ISSUER": ISSUER,
        "CORS_ALLOWED_ORIGINS": f"{ORIGIN}, https://admin.example.com",
        "POSTGREST_RETRY_BACKOFF_SECONDS": "0",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("POSTGREST_URL", "SUPABASE_JWKS_URL", "MAX_BODY_BYTES"):
        monkeypatch.delenv(name, raising=False)
    reset_runtime()
    yield
    reset_runtime()


@pytest.fixture
def upstream(keys: Keys) -> Iterator[respx.MockRouter]:
    """PostgREST and the JWKS endpoint; tests add routes for what they call."""
    with respx.mock(using="httpx", assert_all_mocked=True, assert_all_called=False) as router:
        router.get(f"{REST}/currencies", name="currencies").respond(json=CURRENCIES)
        router.get(JWKS_URL, name="jwks").respond(json=keys.jwks())
        yield router


class Answer:
    """An httpx response read the way the tests read it (`get_json`, `get_data`)."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status_code = response.status_code
        self.headers = response.headers

    def get_json(self) -> Any:
        return self._response.json()

    def get_data(self, as_text: bool = False) -> str | bytes:
        return self._response.text if as_text else self._response.content


class FunctionClient:
    """One functions-framework target behind Starlette's TestClient (one event loop)."""

    def __init__(self, client: TestClient) -> None:
        self._client = client

    def open(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | str | None = None,
        input_stream: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        content: bytes | str | Iterable[bytes] | None = data
        if input_stream is not None:
            # A generator has no length (the body arrives chunked) and is read only if
            # the function reads the body.
            def chunks() -> Iterator[bytes]:
                yield input_stream.read()

            content = chunks()
        # Non-ASCII header values go as raw bytes, the way a real client could send them.
        raw = {
            name: value if value.isascii() else value.encode()
            for name, value in (headers or {}).items()
        }
        response = self._client.request(method, path, json=json, content=content, headers=raw)
        return Answer(response)

    def get(self, path: str, **kwargs: Any) -> Answer:
        return self.open("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Answer:
        return self.open("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Answer:
        return self.open("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Answer:
        return self.open("DELETE", path, **kwargs)

    def options(self, path: str, **kwargs: Any) -> Answer:
        return self.open("OPTIONS", path, **kwargs)


AppFactory = Callable[[str], FunctionClient]


@pytest.fixture
def app() -> Iterator[AppFactory]:
    with ExitStack() as stack:

        def make(target: str = "router") -> FunctionClient:
            asgi = create_asgi_app(target, MAIN)  # type: ignore[no-untyped-call]
            client = TestClient(asgi, raise_server_exceptions=False)
            return FunctionClient(stack.enter_context(client))

        yield make


@pytest.fixture
def client(app: AppFactory, upstream: respx.MockRouter) -> FunctionClient:
    """The local router, with every function behind it."""
    return app("router")


def error_of(response: Any) -> dict[str, Any]:
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details", "request_id"}
    assert body["error"]["request_id"] == response.headers["X-Request-Id"]
    error: dict[str, Any] = body["error"]
    return error
