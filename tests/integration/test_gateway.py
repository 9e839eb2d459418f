"""The stack's gateway gives it the hosted project's shape, as Supabase's clients expect it.

One origin: `/rest/v1/` is PostgREST with CORS answered as Supabase's local
gateway (Kong's `cors` plugin with its defaults) answers it;
`/auth/v1/.well-known/jwks.json` publishes the public signing keys and never the
HS256 secret; any other `/auth/v1/` path says there is no Auth server locally and
how to get a token; `/functions/v1/<function>/...` reaches each function with the
paths it sees when deployed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from scripts.localstack import auth
from tests.conftest import StackHandle, stack_module

pytestmark = pytest.mark.integration


@pytest.fixture
def gateway(stack: StackHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.api_url, timeout=10) as client:
        yield client


def _user_claims(user_id: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"sub": user_id, "role": "authenticated", "aud": "authenticated",
              "iat": now, "exp": now + 600}  # fmt: skip
    claims.update(overrides)
    return claims


# /rest/v1 ------------------------------------------------------------------------------
def test_rest_v1_is_postgrest(stack: StackHandle, gateway: httpx.Client) -> None:
    response = gateway.get("/rest/v1/", headers={"apikey": stack.anon_key})
    assert response.status_code == 200
    assert response.json()["info"]["version"].startswith("12.")


def test_rest_v1_reads_a_table_with_filters_as_postgrest_does(
    stack: StackHandle, gateway: httpx.Client
) -> None:
    response = gateway.get(
        "/rest/v1/currencies",
        params={"select": "code,exponent", "code": "eq.JPY"},
        headers={"apikey": stack.anon_key},
    )
    assert response.status_code == 200
    assert response.json() == [{"code": "JPY", "exponent": 0}]


def test_a_cors_preflight_on_rest_v1_is_answered_like_supabases_gateway(
    gateway: httpx.Client,
) -> None:
    requested = "authorization,apikey,content-type,x-client-info,prefer"
    response = gateway.options(
        "/rest/v1/rpc/transfer_funds",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": requested,
        },
    )
    assert response.status_code == 200
    assert response.headers.get_list("access-control-allow-origin") == ["*"]
    assert response.headers["access-control-allow-headers"] == requested
    allowed = response.headers["access-control-allow-methods"].split(",")
    assert {"GET", "POST", "PATCH", "DELETE", "OPTIONS"} <= set(allowed)
    assert response.content == b""


def test_rest_v1_responses_allow_any_origin_once(stack: StackHandle, gateway: httpx.Client) -> None:
    response = gateway.get(
        "/rest/v1/currencies?limit=1",
        headers={"apikey": stack.anon_key, "Origin": "http://127.0.0.1:5173"},
    )
    assert response.status_code == 200
    # PostgREST sets its own; the gateway's replaces it instead of adding a second one.
    assert response.headers.get_list("access-control-allow-origin") == ["*"]
    assert "Content-Range" in response.headers["access-control-expose-headers"]


def test_an_options_request_without_origin_goes_to_postgrest(
    stack: StackHandle, gateway: httpx.Client
) -> None:
    response = gateway.options("/rest/v1/currencies", headers={"apikey": stack.anon_key})
    assert response.status_code == 200
    assert "access-control-allow-methods" not in response.headers
    assert "GET" in response.headers["allow"]


# The audience ------------------------------------------------------------------------------
def test_the_anon_key_without_an_aud_claim_is_accepted(
    stack: StackHandle, gateway: httpx.Client
) -> None:
    assert "aud" not in jwt.decode(stack.anon_key, options={"verify_signature": False})
    response = gateway.get(
        "/rest/v1/currencies?limit=1",
        headers={"apikey": stack.anon_key, "Authorization": f"Bearer {stack.anon_key}"},
    )
    assert response.status_code == 200


def test_a_user_token_for_authenticated_is_accepted(
    stack: StackHandle, gateway: httpx.Client, make_user: Any
) -> None:
    user = make_user()
    response = gateway.get(
        "/rest/v1/accounts",
        headers={"apikey": stack.anon_key, "Authorization": f"Bearer {user.token}"},
    )
    assert response.status_code == 200


@pytest.mark.parametrize("audience", ["another-project", "anon", ["somebody", "else"]])
def test_a_token_for_another_audience_is_refused(
    stack: StackHandle, gateway: httpx.Client, make_user: Any, audience: Any
) -> None:
    user = make_user()
    token = jwt.encode(_user_claims(user.id, aud=audience), stack.jwt_secret, algorithm="HS256")
    response = gateway.get(
        "/rest/v1/accounts", headers={"apikey": stack.anon_key, "Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401
    assert "aud" in response.text.lower() or "audience" in response.text.lower()


# /auth/v1 ---------------------------------------------------------------------------------
def test_the_jwks_endpoint_publishes_the_es256_public_key(
    stack: StackHandle, gateway: httpx.Client, make_user: Any
) -> None:
    response = gateway.get("/auth/v1/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    (key,) = response.json()["keys"]
    assert key["kty"] == "EC"
    assert key["kid"] == stack_module.ES256_KID
    assert "d" not in key  # the private part
    user = make_user(algorithm="ES256")
    public = jwt.PyJWK(key).key
    claims = jwt.decode(user.token, public, algorithms=["ES256"], audience="authenticated")
    assert claims["sub"] == user.id


def test_the_jwks_endpoint_never_serves_the_hs256_secret(
    stack: StackHandle, gateway: httpx.Client
) -> None:
    body = gateway.get("/auth/v1/.well-known/jwks.json").text
    assert all(key["kty"] != "oct" for key in httpx.Response(200, text=body).json()["keys"])
    secret_b64 = auth.b64url(stack.jwt_secret.encode())
    assert secret_b64 not in body
    assert stack.jwt_secret not in body
    # PostgREST's own file holds the secret; it is readable by its owner only.
    private = stack.config.dir / "jwks.json"
    assert secret_b64 in private.read_text()
    assert private.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    "path",
    ["/auth/v1/.well-known/../../jwks.json", "/auth/v1/.well-known/%2e%2e/%2e%2e/jwks.json",
     "/jwks.json", "/auth/v1/.well-known/jwks.json/../../../jwks.json"],
)  # fmt: skip
def test_no_path_reaches_postgrests_jwks_file(
    stack: StackHandle, gateway: httpx.Client, path: str
) -> None:
    response = gateway.get(path)
    assert auth.b64url(stack.jwt_secret.encode()) not in response.text


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/auth/v1/token?grant_type=password"), ("GET", "/auth/v1/user"),
     ("POST", "/auth/v1/signup"), ("POST", "/auth/v1/logout"), ("GET", "/auth/v1/settings")],
)  # fmt: skip
def test_other_auth_paths_answer_501_saying_how_to_get_a_token(
    stack: StackHandle, gateway: httpx.Client, method: str, path: str
) -> None:
    response = gateway.request(method, path, headers={"apikey": stack.anon_key}, json={})
    assert response.status_code == 501
    error = response.json()["error"]
    assert error["code"] == "not_implemented"
    assert "no Auth server" in error["message"]
    assert "make token" in error["message"]
    assert error["details"] is None
    assert re.fullmatch(r"[0-9a-f]{32}", error["request_id"])
    assert response.headers.get_list("access-control-allow-origin") == ["*"]


def test_a_cors_preflight_on_auth_v1_is_answered_so_a_browser_sees_the_501(
    gateway: httpx.Client,
) -> None:
    response = gateway.options(
        "/auth/v1/token",
        headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"


# /functions/v1 ------------------------------------------------------------------------------
def test_functions_v1_reaches_each_function_with_its_deployed_path(
    stack: StackHandle, gateway: httpx.Client, make_user: Any
) -> None:
    user = make_user()
    headers = {"Authorization": f"Bearer {user.token}"}
    through = gateway.get("/functions/v1/accounts", headers=headers)
    direct = httpx.get(f"{stack.functions_url}/accounts", headers=headers, timeout=10)
    assert through.status_code == direct.status_code == 200
    assert through.json() == direct.json()
    assert through.headers["x-request-id"]


def test_functions_v1_keeps_the_rest_of_the_path_and_the_query(
    stack: StackHandle, gateway: httpx.Client, make_user: Any
) -> None:
    user = make_user()
    headers = {"Authorization": f"Bearer {user.token}"}
    account = gateway.post(
        "/functions/v1/accounts", headers=headers, json={"currency": "USD", "kind": "checking"}
    )
    assert account.status_code == 201, account.text
    account_id = account.json()["id"]
    one = gateway.get(f"/functions/v1/accounts/{account_id}", headers=headers)
    assert one.status_code == 200
    assert one.json()["id"] == account_id
    page = gateway.get(
        f"/functions/v1/accounts/{account_id}/transactions", params={"limit": 1}, headers=headers
    )
    assert page.status_code == 200
    assert page.json()["data"] == []
    bad = gateway.get(
        f"/functions/v1/accounts/{account_id}/transactions", params={"limit": 0}, headers=headers
    )
    assert bad.status_code == 422


def test_an_unknown_function_is_the_functions_404_not_the_gateways(
    gateway: httpx.Client,
) -> None:
    response = gateway.get("/functions/v1/no-such-function")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert "x-request-id" in response.headers  # answered by the functions server


def test_the_functions_see_the_stack_through_the_gateway(
    stack: StackHandle, gateway: httpx.Client
) -> None:
    assert gateway.get("/functions/v1/health").json()["postgrest"] == "up"
    env = stack.config.env()
    assert env["SUPABASE_URL"] == stack.api_url
    assert env["POSTGREST_URL"] == stack.rest_url
    assert env["SUPABASE_JWKS_URL"] == f"{stack.api_url}/auth/v1/.well-known/jwks.json"


def test_a_path_outside_the_api_is_a_404_envelope(gateway: httpx.Client) -> None:
    response = gateway.get("/storage/v1/object/list")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert "/rest/v1/" in error["message"]
