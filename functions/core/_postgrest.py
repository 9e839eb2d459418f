"""The one way the functions talk to PostgREST: postgrest-py, as the caller, on a pooled client.

Each process holds one `httpx.AsyncClient` with every limit written out (see
`make_http_client`; its transport is a setting, chosen by measurement in
docs/decisions/). Each call builds a light `AsyncPostgrestClient` on that
shared client, carrying the caller's own bearer token and `apikey: <anon
key>`: postgrest-py's `.auth()` would set the token on headers every request
shares, so under concurrency one caller's token could ride on another's call.
The light client costs about 15 µs; the pool is what is expensive, and it is
shared. The service-role key is never used for a user's action: this module
never reads it, and only the payments webhook, which has no user, passes it as
its token.

Failures split in two (see `_errors`):
- no answer (connect error, timeout): `UpstreamUnavailable`, 503 with
  Retry-After. Not retried: a timed-out money call may have committed, and only
  the client, replaying with its idempotency key, can find out safely.
  postgrest-py's own retry (GET only, sleeping seconds) is switched off for the
  same reason and to keep the latency of a failure bounded.
- an answer: postgrest-py raises `APIError`, mapped by SQLSTATE with the HTTP
  status and the whole body of the answer (the ledger's stored refusals carry
  `replayed`, which `APIError` drops). A serialization failure (40001) or
  deadlock (40P01) means the database rolled the whole transaction back, so it
  is retried a bounded number of times with a short jittered backoff; money
  calls carry their idempotency key, so even a duplicate could never move
  money twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from http import HTTPStatus
from typing import Any

import httpx
from postgrest import APIError, AsyncPostgrestClient
from postgrest._async.request_builder import (
    AsyncRequestBuilder,
    AsyncRPCFilterRequestBuilder,
    AsyncSelectRequestBuilder,
)

from ._config import Settings
from ._errors import (
    SERIALIZATION_SQLSTATES,
    InternalError,
    UpstreamUnavailable,
    error_from_postgrest,
)

__all__ = ["Postgrest", "make_http_client"]

_log = logging.getLogger("functions.postgrest")

# The last answer PostgREST gave in this task. httpx runs response hooks in the
# task that sent the request, and every request runs in its own task, so
# concurrent requests never see each other's answers.
_last_answer: ContextVar[httpx.Response | None] = ContextVar("postgrest_answer", default=None)


async def _remember_answer(response: httpx.Response) -> None:
    _last_answer.set(response)


def make_http_client(settings: Settings) -> httpx.AsyncClient:
    """The process's one pooled HTTP client to PostgREST, with every limit written out."""
    options: dict[str, Any] = {
        "limits": httpx.Limits(
            max_connections=settings.postgrest_max_connections,
            max_keepalive_connections=settings.postgrest_max_keepalive_connections,
            keepalive_expiry=settings.postgrest_keepalive_expiry_seconds,
        ),
        "timeout": httpx.Timeout(
            settings.postgrest_timeout_seconds,
            connect=settings.postgrest_connect_timeout_seconds,
            pool=settings.postgrest_pool_timeout_seconds,
        ),
        "follow_redirects": False,
        "event_hooks": {"response": [_remember_answer]},
    }
    if settings.postgrest_transport == "aiohttp":
        # Imported only here: a process on httpx's own transport never loads aiohttp.
        from httpx_aiohttp import HttpxAiohttpClient

        return HttpxAiohttpClient(**options)
    return httpx.AsyncClient(**options)


Query = AsyncSelectRequestBuilder | AsyncRPCFilterRequestBuilder


class Postgrest:
    def __init__(
        self,
        settings: Settings,
        http_client: httpx.AsyncClient,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._url = settings.postgrest_url
        self._anon_key = settings.supabase_anon_key
        self._http = http_client
        self._max_retries = settings.postgrest_max_retries
        self._backoff_seconds = settings.postgrest_retry_backoff_seconds
        self._retry_after_seconds = settings.retry_after_seconds
        self._health_timeout_seconds = settings.health_timeout_seconds
        self._sleep = sleep

    def client(self, token: str) -> AsyncPostgrestClient:
        """A postgrest-py client acting as `token`'s owner, on the shared pool."""
        headers = {
            "apikey": self._anon_key,
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "Content-Type": "application/json",
        }
        return AsyncPostgrestClient(
            self._url, headers=headers, http_client=self._http, retry_enabled=False
        )

    def table(self, name: str, *, token: str) -> AsyncRequestBuilder:
        """`.from_(name)` as the caller: chain `.select(...)`, filters, then `rows(...)`."""
        return self.client(token).from_(name)

    async def rows(self, query: AsyncSelectRequestBuilder) -> list[dict[str, Any]]:
        """Run a `.from_(...).select(...)` query; RLS decides which rows come back."""
        data = await self._execute(query)
        if not isinstance(data, list):
            raise InternalError()
        return data

    async def rpc(self, name: str, args: dict[str, Any], *, token: str) -> dict[str, Any]:
        """POST /rpc/<name>; every ledger RPC returns one JSON object."""
        data = await self._execute(self.client(token).rpc(name, args))
        if not isinstance(data, dict):
            raise InternalError()
        return data

    async def rpc_rows(
        self, name: str, args: dict[str, Any], *, token: str, limit: int
    ) -> list[dict[str, Any]]:
        """POST /rpc/<name> of a set-returning function, at most `limit` rows."""
        data = await self._execute(self.client(token).rpc(name, args).limit(limit))
        if not isinstance(data, list):
            raise InternalError()
        return data

    async def is_up(self) -> bool:
        """Whether PostgREST answers a trivial read within the health timeout."""
        try:
            response = await self._http.get(
                f"{self._url}/currencies",
                params={"select": "code", "limit": "1"},
                headers={"apikey": self._anon_key, "Authorization": f"Bearer {self._anon_key}"},
                timeout=self._health_timeout_seconds,
            )
        except httpx.TransportError:
            return False
        return response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR

    async def _execute(self, query: Query) -> Any:
        for attempt in range(self._max_retries + 1):
            _last_answer.set(None)
            try:
                return (await self._send(query)).data
            except APIError as error:
                status, body = self._answer(error)
            sqlstate = body.get("code") if isinstance(body, dict) else None
            if sqlstate not in SERIALIZATION_SQLSTATES or attempt == self._max_retries:
                break
            await self._sleep(self._backoff(attempt))
        mapped = error_from_postgrest(status, body, self._retry_after_seconds)
        if isinstance(mapped, InternalError | UpstreamUnavailable):
            # Never in the client's answer, but operators need the SQLSTATE.
            _log.warning(
                "postgrest answered %s sqlstate=%r on %s %s",
                status, sqlstate, query.request.http_method, query.request.path.path,
            )  # fmt: skip
        raise mapped

    async def _send(self, query: Query) -> Any:
        try:
            return await query.execute()
        except httpx.TransportError as error:
            _log.warning("postgrest unreachable: %s", type(error).__name__)
            raise UpstreamUnavailable(self._retry_after_seconds) from None

    @staticmethod
    def _answer(error: APIError) -> tuple[int, Any]:
        """The HTTP status and JSON body of the answer behind `error` (None: not JSON)."""
        response = _last_answer.get()
        if response is None:  # an APIError postgrest-py raised without an answer
            return 0, error.json()
        try:
            return response.status_code, json.loads(response.content)
        except ValueError:
            return response.status_code, None

    def _backoff(self, attempt: int) -> float:
        # Jitter keeps retried transactions from colliding again in lockstep; not security.
        jitter: float = 0.5 + random.random()  # noqa: S311
        return self._backoff_seconds * float(2**attempt) * jitter
