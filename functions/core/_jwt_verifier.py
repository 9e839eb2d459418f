"""Verify the caller's Supabase access token before any other work.

Two kinds of signing key, as Supabase Auth issues them: the project's legacy
HS256 secret, and asymmetric keys (ES256, RS256) published at the project's JWKS
URL. The token's header only says which *source* to look in (`HS256` means the
legacy secret; anything else needs a `kid` found in the JWKS); the algorithm
accepted is then decided by the key itself: the secret only ever verifies
HS256, an EC P-256 key only ES256, an RSA key only RS256. So `alg: none` is
refused, and so is algorithm confusion (an HS256 token whose "secret" is a
public key): a public key is never handed to HMAC.

The JWKS is fetched lazily, cached for a TTL, and refetched on an unknown `kid`
at most once per minimum interval, so a stream of tokens with made-up `kid`s
cannot turn into a stream of fetches. When the JWKS cannot be fetched, keys
already cached keep working; with no keys at all the answer is 503 (our
failure), not 401 (the caller's).

A frontend sends the same access token with every request for up to an hour,
and PyJWT spends most of a millisecond per decode (per-character base64 checks,
key preparation), more than the whole budget of a request. So a verified token
(the exact string, signature included) is remembered for at most a minute and
never past its `exp`; the cache is bounded and evicts the oldest entry.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt

from ._errors import Unauthorized, UpstreamUnavailable

__all__ = ["Caller", "JwksCache", "JwtVerifier"]

_AUDIENCE = "authenticated"
_MAX_TOKEN_BYTES = 8_192
_ASYMMETRIC_ALGORITHMS = frozenset({"ES256", "RS256"})
_VERIFIED_CACHE_SIZE = 1_024
_VERIFIED_CACHE_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: from verified claims only. Roles come from `app_metadata`."""

    user_id: str
    token: str
    is_admin: bool

    @classmethod
    def from_claims(cls, token: str, claims: dict[str, Any]) -> Caller:
        app_metadata = claims.get("app_metadata")
        role = app_metadata.get("role") if isinstance(app_metadata, dict) else None
        return cls(user_id=str(claims["sub"]), token=token, is_admin=role == "admin")


def _algorithm_for(jwk: dict[str, Any]) -> str | None:
    """The one algorithm a published key may verify, from its type; None to ignore it."""
    if jwk.get("use", "sig") != "sig":
        return None
    kty, crv = jwk.get("kty"), jwk.get("crv")
    algorithm = "ES256" if (kty, crv) == ("EC", "P-256") else "RS256" if kty == "RSA" else None
    declared = jwk.get("alg")
    if algorithm is None or (declared is not None and declared != algorithm):
        return None
    return algorithm


def _parse_jwks(document: Any) -> dict[str, tuple[str, Any]]:
    keys: dict[str, tuple[str, Any]] = {}
    entries = document.get("keys") if isinstance(document, dict) else None
    for jwk in entries if isinstance(entries, list) else []:
        if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str):
            continue
        algorithm = _algorithm_for(jwk)
        if algorithm is None:
            continue
        try:
            keys[jwk["kid"]] = (algorithm, jwt.PyJWK(jwk, algorithm).key)
        except jwt.PyJWTError:
            continue
    return keys


class JwksCache:
    """The project's published signing keys by `kid`, fetched with a TTL and a refetch bound."""

    def __init__(
        self,
        url: str,
        client: httpx.AsyncClient | None,
        *,
        ttl_seconds: float,
        min_refetch_interval_seconds: float,
        timeout_seconds: float,
        retry_after_seconds: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._client = client
        self._ttl_seconds = ttl_seconds
        self._min_interval_seconds = min_refetch_interval_seconds
        self._timeout_seconds = timeout_seconds
        self._retry_after_seconds = retry_after_seconds
        self._clock = clock
        self._keys: dict[str, tuple[str, Any]] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()

    async def key_for(self, kid: str) -> tuple[str, Any]:
        """(algorithm, key) for `kid`, or Unauthorized once a refetch did not find it."""
        now = self._clock()
        fresh = self._fetched_at is not None and now - self._fetched_at < self._ttl_seconds
        if fresh and kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            now = self._clock()
            stale = self._fetched_at is None or now - self._fetched_at >= self._ttl_seconds
            if stale and self._may_fetch(now):
                await self._fetch(now)
            found = self._keys.get(kid)
            if found is None and self._may_fetch(now):
                await self._fetch(now)
                found = self._keys.get(kid)
            if found is not None:
                return found
            if self._fetched_at is None:
                raise UpstreamUnavailable(self._retry_after_seconds)
            raise Unauthorized("the token is signed with an unknown key")

    def _may_fetch(self, now: float) -> bool:
        return self._attempted_at is None or now - self._attempted_at >= self._min_interval_seconds

    async def _fetch(self, now: float) -> None:
        self._attempted_at = now
        try:
            keys = _parse_jwks(await self._document())
        except (OSError, ValueError):  # _document turns HTTP failures into OSError
            return  # keep what we have; the caller decides between 401 and 503
        self._keys = keys
        self._fetched_at = now

    async def _document(self) -> Any:
        if self._url.startswith("file://"):
            # The local stack's own JWKS file (ENVIRONMENT=local only, see _config).
            return json.loads(Path(self._url.removeprefix("file://")).read_bytes())
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False)
        try:
            response = await self._client.get(self._url, timeout=self._timeout_seconds)
            response.raise_for_status()
        except httpx.HTTPError as error:
            raise OSError(f"JWKS fetch failed: {type(error).__name__}") from None
        return response.json()


class JwtVerifier:
    """Checks signature, `exp`, `nbf`, `iat` (with leeway), `aud`, and `iss` when configured.

    A verified token's claims are remembered, by the exact token string, until
    the token expires: a frontend sends the same access token for up to an
    hour, and PyJWT spends about 0.4 ms of CPU parsing one (measured on the
    benchmark machine), more than half of what the whole function may cost.
    Only a string that verified once is ever a hit, and `exp` is checked on
    every hit, so the cache accepts nothing the verifier would refuse, except a
    token signed by a JWKS key withdrawn since, which stays valid until its
    `exp` exactly as it would in any stateless JWT deployment. The cache is
    bounded; the oldest entry goes first.
    """

    def __init__(
        self,
        *,
        hs256_secret: str,
        jwks: JwksCache | None,
        issuer: str,
        leeway_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = hs256_secret
        self._jwks = jwks
        self._issuer = issuer or None
        self._leeway_seconds = leeway_seconds
        self._clock = clock
        self._verified: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()

    async def verify(self, token: str) -> dict[str, Any]:
        """The token's claims once everything checks out; Unauthorized otherwise."""
        remembered = self._verified.get(token)
        now = self._clock()
        if remembered is not None and now < remembered[0]:
            return remembered[1]
        claims = await self._decode(token)
        valid_until = min(float(claims["exp"]), now + _VERIFIED_CACHE_SECONDS)
        # One event loop per process: no lock needed between the check and the insert.
        self._verified[token] = (valid_until, claims)
        if len(self._verified) > _VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return claims

    async def _decode(self, token: str) -> dict[str, Any]:
        if not token or len(token) > _MAX_TOKEN_BYTES:
            raise Unauthorized("the bearer token is missing or too long")
        algorithm, key = await self._key_for(self._header(token))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=_AUDIENCE,
                issuer=self._issuer,
                leeway=self._leeway_seconds,
                options={"require": ["exp", "iat", "sub", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the token has expired") from None
        except jwt.PyJWTError:
            raise Unauthorized("the token is not valid") from None
        if not isinstance(claims.get("sub"), str) or not isinstance(claims["exp"], int | float):
            raise Unauthorized("the token has no subject")
        return claims

    @staticmethod
    def _header(token: str) -> dict[str, Any]:
        try:
            return jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("the token is malformed") from None

    async def _key_for(self, header: dict[str, Any]) -> tuple[str, Any]:
        algorithm = header.get("alg")
        if algorithm == "HS256" and self._secret:
            return "HS256", self._secret
        if algorithm in _ASYMMETRIC_ALGORITHMS and self._jwks is not None:
            kid = header.get("kid")
            if not isinstance(kid, str) or not kid:
                raise Unauthorized("the token names no signing key")
            return await self._jwks.key_for(kid)
        raise Unauthorized("the token's signing algorithm is not accepted")
