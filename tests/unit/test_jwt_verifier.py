"""Token verification: each way a token can be wrong is a 401, the JWKS is fetched sparingly."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import httpx
import jwt
import pytest
import respx
from cryptography.hazmat.primitives import serialization

from functions.core import Unauthorized, UpstreamUnavailable, reset_runtime
from functions.core._jwt_verifier import JwksCache, JwtVerifier
from tests.unit.conftest import (
    ISSUER,
    JWKS_URL,
    REST,
    SECRET,
    FunctionClient,
    Keys,
    auth,
    claims,
    error_of,
    hs256_token,
)


@pytest.fixture
def accounts_ok(upstream: respx.MockRouter) -> respx.MockRouter:
    upstream.get(f"{REST}/accounts").respond(json=[])
    return upstream


def status_for(client: FunctionClient, token: str) -> int:
    response = client.get("/accounts", headers=auth(token))
    if response.status_code == 401:
        assert error_of(response)["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    return response.status_code


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_a_valid_hs256_token_is_accepted(
    client: FunctionClient, accounts_ok: respx.MockRouter
) -> None:
    assert status_for(client, hs256_token()) == 200


def test_a_valid_es256_token_from_the_jwks_is_accepted(
    client: FunctionClient, accounts_ok: respx.MockRouter, keys: Keys
) -> None:
    token = jwt.encode(claims(), keys.es256, algorithm="ES256", headers={"kid": "es-key"})
    assert status_for(client, token) == 200


def test_a_valid_rs256_token_from_the_jwks_is_accepted(
    client: FunctionClient, accounts_ok: respx.MockRouter, keys: Keys
) -> None:
    token = jwt.encode(claims(), keys.rs256, algorithm="RS256", headers={"kid": "rs-key"})
    assert status_for(client, token) == 200


# Times are offsets from the moment the test runs, not from collection: the suite can
# take longer than any fixed offset, and a "future" time computed at import would have
# passed by the time a late test runs.
@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": -60},
        {"nbf": 600},
        {"iat": 600},
        {"aud": "anon"},
        {"iss": "https://someone-else.supabase.co/auth/v1"},
        {"exp": None},
        {"sub": None},
    ],
    ids=[
        "expired",
        "not-yet-valid",
        "issued-in-future",
        "wrong-aud",
        "wrong-iss",
        "no-exp",
        "no-sub",
    ],
)
def test_a_token_with_bad_claims_is_unauthorized(
    client: FunctionClient, overrides: dict[str, Any]
) -> None:
    now = int(time.time())
    timed = {
        name: now + value if name in ("exp", "nbf", "iat") and isinstance(value, int) else value
        for name, value in overrides.items()
    }
    assert status_for(client, hs256_token(**timed)) == 401


def test_a_little_clock_skew_is_tolerated(
    client: FunctionClient, accounts_ok: respx.MockRouter
) -> None:
    assert status_for(client, hs256_token(iat=int(time.time()) + 5)) == 200


def test_a_token_signed_with_another_secret_is_unauthorized(client: FunctionClient) -> None:
    token = jwt.encode(claims(), "another-secret-that-is-also-long-enough-!!", algorithm="HS256")
    assert status_for(client, token) == 401


def test_alg_none_is_refused(client: FunctionClient) -> None:
    token = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims())}."
    assert status_for(client, token) == 401


@pytest.mark.parametrize("kind", ["es256", "rs256"])
def test_algorithm_confusion_with_the_public_key_as_hmac_secret_is_refused(
    client: FunctionClient, keys: Keys, kind: str
) -> None:
    import hashlib
    import hmac

    public = (
        getattr(keys, kind)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    kid = "es-key" if kind == "es256" else "rs-key"
    signing_input = f"{b64({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{b64(claims())}"
    signature = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
    assert status_for(client, token) == 401


def test_an_es256_header_on_an_rsa_key_is_refused(client: FunctionClient, keys: Keys) -> None:
    token = jwt.encode(claims(), keys.es256, algorithm="ES256", headers={"kid": "rs-key"})
    assert status_for(client, token) == 401


@pytest.mark.parametrize(
    "token", ["", "abc", "a.b.c", "x" * 9000, f"{b64({'alg': 'ES256'})}.{b64(claims())}.sig"]
)
def test_malformed_tokens_are_unauthorized(client: FunctionClient, token: str) -> None:
    response = client.get("/accounts", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "token abc", "Bearer a b"])
def test_other_authorization_schemes_are_unauthorized(client: FunctionClient, header: str) -> None:
    response = client.get("/accounts", headers={"Authorization": header})
    assert response.status_code == 401


def test_an_unknown_kid_causes_exactly_one_refetch_then_401(
    client: FunctionClient, accounts_ok: respx.MockRouter, keys: Keys
) -> None:
    known = jwt.encode(claims(), keys.es256, algorithm="ES256", headers={"kid": "es-key"})
    assert status_for(client, known) == 200
    jwks = accounts_ok.routes["jwks"]
    assert jwks.call_count == 1
    unknown = jwt.encode(claims(), keys.es256, algorithm="ES256", headers={"kid": "rotated"})
    assert status_for(client, unknown) == 401
    assert jwks.call_count == 1  # within the minimum interval: no refetch at all


def test_an_unknown_kid_after_the_minimum_interval_refetches_once(
    client: FunctionClient,
    accounts_ok: respx.MockRouter,
    keys: Keys,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JWKS_MIN_REFETCH_INTERVAL_SECONDS", "0")
    reset_runtime()
    known = jwt.encode(claims(), keys.es256, algorithm="ES256", headers={"kid": "es-key"})
    status_for(client, known)
    jwks = accounts_ok.routes["jwks"]
    unknown = jwt.encode(claims(), keys.es256, algorithm="ES256", headers={"kid": "rotated"})
    assert status_for(client, unknown) == 401
    assert jwks.call_count == 2


def test_jwks_unreachable_with_no_keys_cached_is_503(
    client: FunctionClient, upstream: respx.MockRouter, keys: Keys
) -> None:
    upstream.routes["jwks"].side_effect = httpx.ConnectError("down")
    token = jwt.encode(claims(), keys.es256, algorithm="ES256", headers={"kid": "es-key"})
    response = client.get("/accounts", headers=auth(token))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"


def test_hs256_tokens_still_work_while_the_jwks_is_unreachable(
    client: FunctionClient, accounts_ok: respx.MockRouter
) -> None:
    accounts_ok.routes["jwks"].side_effect = httpx.ConnectError("down")
    assert status_for(client, hs256_token()) == 200


def test_jwks_disabled_refuses_asymmetric_tokens(
    client: FunctionClient, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPABASE_JWKS_URL", "")
    reset_runtime()
    token = jwt.encode(claims(), keys.es256, algorithm="ES256", headers={"kid": "es-key"})
    assert status_for(client, token) == 401


def test_without_a_legacy_secret_hs256_tokens_are_refused(
    client: FunctionClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPABASE_JWT_SECRET", "")
    reset_runtime()
    assert status_for(client, hs256_token()) == 401


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_cache(keys: Keys, clock: Clock) -> tuple[JwksCache, respx.Route, httpx.AsyncClient]:
    http = httpx.AsyncClient()
    cache = JwksCache(
        JWKS_URL, http, ttl_seconds=600, min_refetch_interval_seconds=30, timeout_seconds=1,
        clock=clock,
    )  # fmt: skip
    route = respx.get(JWKS_URL).respond(json=keys.jwks())
    return cache, route, http


@respx.mock
def test_the_jwks_is_refetched_after_its_ttl(keys: Keys) -> None:
    async def scenario() -> None:
        clock = Clock()
        cache, route, http = make_cache(keys, clock)
        async with http:
            assert (await cache.key_for("es-key"))[0] == "ES256"
            clock.now += 599
            await cache.key_for("rs-key")
            assert route.call_count == 1
            clock.now += 2
            assert (await cache.key_for("rs-key"))[0] == "RS256"
            assert route.call_count == 2

    asyncio.run(scenario())


@respx.mock
def test_unknown_kids_refetch_at_most_once_per_interval(keys: Keys) -> None:
    async def scenario() -> None:
        clock = Clock()
        cache, route, http = make_cache(keys, clock)
        async with http:
            await cache.key_for("es-key")
            clock.now += 31
            for kid in ("a", "b", "c"):
                with pytest.raises(Unauthorized):
                    await cache.key_for(kid)
            assert route.call_count == 2

    asyncio.run(scenario())


@respx.mock
def test_a_failed_refresh_keeps_the_cached_keys(keys: Keys) -> None:
    async def scenario() -> None:
        clock = Clock()
        cache, route, http = make_cache(keys, clock)
        async with http:
            await cache.key_for("es-key")
            route.side_effect = httpx.ConnectError("down")
            clock.now += 700
            assert (await cache.key_for("es-key"))[0] == "ES256"
            assert route.call_count == 2

    asyncio.run(scenario())


@respx.mock
def test_an_unreadable_jwks_with_nothing_cached_is_upstream_unavailable(keys: Keys) -> None:
    async def scenario() -> None:
        clock = Clock()
        cache, route, http = make_cache(keys, clock)
        route.respond(200, text="not json")
        async with http:
            with pytest.raises(UpstreamUnavailable):
                await cache.key_for("es-key")

    asyncio.run(scenario())


@respx.mock
def test_keys_the_functions_cannot_use_are_ignored(keys: Keys) -> None:
    document = keys.jwks()
    es, rs = document["keys"]
    odd = [
        {"kty": "oct", "kid": "oct", "k": "c2VjcmV0"},
        {**es, "kid": "enc", "use": "enc"},
        {**es, "kid": "mislabelled", "alg": "RS256"},
        {**rs, "kid": "broken", "n": "!!"},
        {**es, "kid": None},
        "not an object",
    ]

    async def scenario() -> None:
        clock = Clock()
        cache, route, http = make_cache(keys, clock)
        route.respond(json={"keys": [*odd, es]})
        async with http:
            assert (await cache.key_for("es-key"))[0] == "ES256"
            for kid in ("oct", "enc", "mislabelled", "broken"):
                with pytest.raises(Unauthorized):
                    await cache.key_for(kid)

    asyncio.run(scenario())


def test_the_verifier_checks_the_issuer_only_when_configured() -> None:
    verifier = JwtVerifier(hs256_secret=SECRET, jwks=None, issuer="", leeway_seconds=0)
    token = jwt.encode(claims(iss="anyone"), SECRET, algorithm="HS256")
    assert asyncio.run(verifier.verify(token))["iss"] == "anyone"
    strict = JwtVerifier(hs256_secret=SECRET, jwks=None, issuer=ISSUER, leeway_seconds=0)
    with pytest.raises(Unauthorized):
        asyncio.run(strict.verify(token))


def test_a_subject_that_is_not_a_string_is_refused() -> None:
    verifier = JwtVerifier(hs256_secret=SECRET, jwks=None, issuer="", leeway_seconds=0)
    with pytest.raises(Unauthorized):
        asyncio.run(
            verifier.verify(jwt.encode(claims(sub=None) | {"sub": 12}, SECRET, algorithm="HS256"))
        )


def counting_verifier(
    monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> tuple[JwtVerifier, list[str]]:
    decoded: list[str] = []
    real_decode = jwt.decode

    def decode(token: str, *args: Any, **kwargs: Any) -> Any:
        decoded.append(token)
        return real_decode(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", decode)
    verifier = JwtVerifier(hs256_secret=SECRET, jwks=None, issuer="", leeway_seconds=0, clock=clock)
    return verifier, decoded


def test_a_token_seen_again_within_a_minute_is_not_decoded_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock()
    clock.now = time.time()
    verifier, decoded = counting_verifier(monkeypatch, clock)
    token = hs256_token()
    assert asyncio.run(verifier.verify(token)) == asyncio.run(verifier.verify(token))
    assert len(decoded) == 1
    clock.now += 61
    asyncio.run(verifier.verify(token))
    assert len(decoded) == 2


def test_a_remembered_token_is_not_trusted_past_its_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    clock.now = time.time()
    verifier, decoded = counting_verifier(monkeypatch, clock)
    token = hs256_token(exp=int(clock.now) + 5)
    asyncio.run(verifier.verify(token))
    clock.now += 6
    asyncio.run(
        verifier.verify(token)
    )  # PyJWT's own clock still says valid; what matters is the re-check
    assert len(decoded) == 2


def test_the_remembered_tokens_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from functions.core import _jwt_verifier

    monkeypatch.setattr(_jwt_verifier, "_VERIFIED_CACHE_SIZE", 2)
    clock = Clock()
    clock.now = time.time()
    verifier, decoded = counting_verifier(monkeypatch, clock)
    first, second, third = (hs256_token(sub=f"user-{n}") for n in range(3))
    for token in (first, second, third, first):
        asyncio.run(verifier.verify(token))
    assert decoded == [first, second, third, first]


def test_a_token_that_failed_is_never_remembered(client: FunctionClient) -> None:
    token = hs256_token(aud="anon")
    assert status_for(client, token) == 401
    assert status_for(client, token) == 401


def test_the_local_stack_jwks_can_be_read_from_a_file(keys: Keys, tmp_path: Any) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(keys.jwks()))

    async def scenario() -> None:
        async with httpx.AsyncClient() as http:
            cache = JwksCache(f"file://{path}", http, ttl_seconds=600,
                              min_refetch_interval_seconds=30, timeout_seconds=1)  # fmt: skip
            assert (await cache.key_for("es-key"))[0] == "ES256"
            path.unlink()  # a missing file later is a failed refresh: cached keys still work
            assert (await cache.key_for("rs-key"))[0] == "RS256"

    asyncio.run(scenario())
