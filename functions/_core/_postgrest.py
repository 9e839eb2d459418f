"""The one way the functions talk to PostgREST: as the caller, on a pooled connection.

The connection pool is `_http_client.HttpClient` (see there why not httpx);
`HttpxUpstream` offers the same interface on `httpx.AsyncClient`, which the
unit tests stub with respx and which an operator may choose with
`POSTGREST_CLIENT=httpx` (e.g. behind an HTTP proxy).

Every call carries the caller's own bearer token and `apikey: <anon key>`, so
PostgREST and row-level security see exactly who is asking; the service-role
key is never used for a user's action (this module never even reads it).

Failures split in two (see `_errors`):
- no answer (connect error, timeout): `UpstreamUnavailable`, 503 with
  Retry-After. Not retried: a timed-out money call may have committed, and only
  the client, replaying with its idempotency key, can find out safely.
- an answer: mapped by SQLSTATE. A serialization failure (40001) or deadlock
  (40P01) means the database rolled the whole transaction back, so it is
  retried a bounded number of times with a short jittered backoff; money calls
  carry their idempotency key, so even a duplicate could never move money
  twice. PostgREST's own 5xx answers (database unreachable, pool exhausted)
  are transient and become 503 as well; anything else unexpected is a 500.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode

from ._config import Settings
from ._errors import (
    SERIALIZATION_SQLSTATES,
    InternalError,
    UpstreamUnavailable,
    error_from_postgrest,
)
from ._http_client import HttpClient, Response, UpstreamTimeoutError, UpstreamTransportError

if TYPE_CHECKING:
    import httpx

__all__ = ["HttpxUpstream", "Postgrest", "Upstream", "make_upstream"]

_log = logging.getLogger("functions.postgrest")
Params = list[tuple[str, str]]


class Upstream(Protocol):
    async def request(
        self,
        method: str,
        target: str,
        *,
        headers: dict[str, str],
        body: bytes = b"",
        timeout_seconds: float,
        repeatable: bool,
    ) -> Response: ...

    async def aclose(self) -> None: ...


class HttpxUpstream:
    """`Upstream` on an `httpx.AsyncClient`: slower, but respx can stub it."""

    def __init__(self, base_url: str, client: httpx.AsyncClient) -> None:
        self._base_url = base_url
        self._client = client

    async def request(
        self,
        method: str,
        target: str,
        *,
        headers: dict[str, str],
        body: bytes = b"",
        timeout_seconds: float,
        repeatable: bool,
    ) -> Response:
        import httpx

        try:
            answer = await self._client.request(
                method, self._base_url + target, headers=headers, content=body or None,
                timeout=timeout_seconds,
            )  # fmt: skip
        except httpx.TimeoutException:
            raise UpstreamTimeoutError("upstream timed out") from None
        except httpx.TransportError as error:
            raise UpstreamTransportError(type(error).__name__) from None
        headers_out = {name.lower(): value for name, value in answer.headers.items()}
        return Response(answer.status_code, headers_out, answer.content)

    async def aclose(self) -> None:
        await self._client.aclose()


def make_upstream(settings: Settings) -> Upstream:
    """The process's one pooled connection to PostgREST, with every limit written out."""
    if settings.postgrest_client == "httpx":
        # Imported only here: the native client's cold start never pays for httpx.
        import httpx

        client = httpx.AsyncClient(
            limits=httpx.Limits(
                max_connections=settings.postgrest_max_connections,
                max_keepalive_connections=settings.postgrest_max_keepalive_connections,
                keepalive_expiry=settings.postgrest_keepalive_expiry_seconds,
            ),
            timeout=httpx.Timeout(
                settings.postgrest_timeout_seconds,
                connect=settings.postgrest_connect_timeout_seconds,
                pool=settings.postgrest_pool_timeout_seconds,
            ),
            follow_redirects=False,
            # Honours HTTP(S)_PROXY: this client is the opt-in for deployments behind a proxy.
            trust_env=True,
        )
        return HttpxUpstream(settings.postgrest_url, client)
    return HttpClient(
        settings.postgrest_url,
        max_connections=settings.postgrest_max_connections,
        connect_timeout_seconds=settings.postgrest_connect_timeout_seconds,
        keepalive_expiry_seconds=settings.postgrest_keepalive_expiry_seconds,
    )


class Postgrest:
    def __init__(
        self,
        settings: Settings,
        upstream: Upstream,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._anon_key = settings.supabase_anon_key
        self._upstream = upstream
        self._timeout_seconds = settings.postgrest_timeout_seconds
        self._max_retries = settings.postgrest_max_retries
        self._backoff_seconds = settings.postgrest_retry_backoff_seconds
        self._retry_after_seconds = settings.retry_after_seconds
        self._health_timeout_seconds = settings.health_timeout_seconds
        self._sleep = sleep

    async def select(self, table: str, params: Params, *, token: str) -> list[dict[str, Any]]:
        """GET /<table> with PostgREST query parameters; RLS decides which rows come back."""
        rows = await self._send("GET", f"/{table}?{urlencode(params)}", token, repeatable=True)
        if not isinstance(rows, list):
            raise InternalError()
        return rows

    async def rpc(self, name: str, args: dict[str, Any], *, token: str) -> dict[str, Any]:
        """POST /rpc/<name>; every ledger RPC returns one JSON object.

        A call is repeated after a lost keep-alive connection only when it
        carries an idempotency key: then a duplicate can never act twice.
        """
        body = json.dumps(args, separators=(",", ":")).encode()
        repeatable = "p_idempotency_key" in args
        result = await self._send("POST", f"/rpc/{name}", token, body=body, repeatable=repeatable)
        if not isinstance(result, dict):
            raise InternalError()
        return result

    async def is_up(self) -> bool:
        """Whether PostgREST answers a trivial read within the health timeout."""
        try:
            response = await self._upstream.request(
                "GET", "/currencies?select=code&limit=1", headers=self._headers(self._anon_key),
                timeout_seconds=self._health_timeout_seconds, repeatable=True,
            )  # fmt: skip
        except UpstreamTransportError:
            return False
        return response.status < 500

    def _headers(self, token: str) -> dict[str, str]:
        return {
            "apikey": self._anon_key,
            "authorization": f"Bearer {token}",
            "accept": "application/json",
            "content-type": "application/json",
        }

    async def _send(
        self, method: str, target: str, token: str, *, body: bytes = b"", repeatable: bool
    ) -> Any:
        headers = self._headers(token)
        for attempt in range(self._max_retries + 1):
            response = await self._exchange(method, target, headers, body, repeatable)
            if response.status < 300:
                return self._json(response)
            answer = self._json_or_none(response)
            sqlstate = answer.get("code") if isinstance(answer, dict) else None
            if sqlstate not in SERIALIZATION_SQLSTATES or attempt == self._max_retries:
                break
            await self._sleep(self._backoff(attempt))
        error = error_from_postgrest(response.status, answer, self._retry_after_seconds)
        if isinstance(error, InternalError | UpstreamUnavailable):
            # Never in the client's answer, but operators need the SQLSTATE.
            _log.warning(
                "postgrest answered %s sqlstate=%s on %s %s",
                response.status, sqlstate, method, target.partition("?")[0],
            )  # fmt: skip
        raise error

    async def _exchange(
        self, method: str, target: str, headers: dict[str, str], body: bytes, repeatable: bool
    ) -> Response:
        try:
            return await self._upstream.request(
                method, target, headers=headers, body=body,
                timeout_seconds=self._timeout_seconds, repeatable=repeatable,
            )  # fmt: skip
        except UpstreamTransportError as error:
            _log.warning("postgrest unreachable: %s", type(error).__name__)
            raise UpstreamUnavailable(self._retry_after_seconds) from None

    def _backoff(self, attempt: int) -> float:
        # Jitter keeps retried transactions from colliding again in lockstep; not security.
        jitter: float = 0.5 + random.random()  # noqa: S311
        return self._backoff_seconds * float(2**attempt) * jitter

    @staticmethod
    def _json(response: Response) -> Any:
        try:
            return json.loads(response.body)
        except ValueError:
            raise InternalError() from None

    @staticmethod
    def _json_or_none(response: Response) -> Any:
        try:
            return json.loads(response.body)
        except ValueError:
            return None
