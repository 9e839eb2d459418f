"""The one way the functions talk to PostgREST: as the caller, on a pooled connection.

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

import json
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import httpx

from ._config import Settings
from ._errors import (
    SERIALIZATION_SQLSTATES,
    InternalError,
    UpstreamUnavailable,
    error_from_postgrest,
)

__all__ = ["Postgrest", "make_http_client"]

_log = logging.getLogger("functions.postgrest")
Params = list[tuple[str, str]]


def make_http_client(settings: Settings) -> httpx.Client:
    """The process's one pooled client, with every limit written out."""
    return httpx.Client(
        timeout=httpx.Timeout(
            connect=settings.postgrest_connect_timeout_seconds,
            read=settings.postgrest_timeout_seconds,
            write=settings.postgrest_timeout_seconds,
            pool=settings.postgrest_pool_timeout_seconds,
        ),
        limits=httpx.Limits(
            max_connections=settings.postgrest_max_connections,
            max_keepalive_connections=settings.postgrest_max_keepalive_connections,
            keepalive_expiry=settings.postgrest_keepalive_expiry_seconds,
        ),
        follow_redirects=False,
        # No proxy or netrc lookups from the environment: the upstream is fixed.
        trust_env=False,
    )


class Postgrest:
    def __init__(
        self,
        settings: Settings,
        client: httpx.Client,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._base_url = settings.postgrest_url
        self._anon_key = settings.supabase_anon_key
        self._client = client
        self._max_retries = settings.postgrest_max_retries
        self._backoff_seconds = settings.postgrest_retry_backoff_seconds
        self._retry_after_seconds = settings.retry_after_seconds
        self._health_timeout_seconds = settings.health_timeout_seconds
        self._sleep = sleep

    def select(self, table: str, params: Params, *, token: str) -> list[dict[str, Any]]:
        """GET /<table> with PostgREST query parameters; RLS decides which rows come back."""
        rows = self._send("GET", f"/{table}", token, params=params)
        if not isinstance(rows, list):
            raise InternalError()
        return rows

    def rpc(self, name: str, args: dict[str, Any], *, token: str) -> dict[str, Any]:
        """POST /rpc/<name>; every ledger RPC returns one JSON object."""
        body = json.dumps(args, separators=(",", ":")).encode()
        result = self._send("POST", f"/rpc/{name}", token, content=body)
        if not isinstance(result, dict):
            raise InternalError()
        return result

    def is_up(self) -> bool:
        """Whether PostgREST answers a trivial read within the health timeout."""
        try:
            response = self._client.get(
                f"{self._base_url}/currencies",
                params={"select": "code", "limit": "1"},
                headers=self._headers(self._anon_key),
                timeout=self._health_timeout_seconds,
            )
        except httpx.HTTPError:
            return False
        return response.status_code < 500

    def _headers(self, token: str) -> dict[str, str]:
        return {
            "apikey": self._anon_key,
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "Content-Type": "application/json",
        }

    def _send(
        self,
        method: str,
        path: str,
        token: str,
        *,
        params: Params | None = None,
        content: bytes | None = None,
    ) -> Any:
        url = f"{self._base_url}{path}"
        headers = self._headers(token)
        for attempt in range(self._max_retries + 1):
            response = self._exchange(method, url, headers, params, content)
            if response.status_code < 300:
                return self._json(response)
            body = self._json_or_none(response)
            sqlstate = body.get("code") if isinstance(body, dict) else None
            if sqlstate not in SERIALIZATION_SQLSTATES or attempt == self._max_retries:
                break
            self._sleep(self._backoff(attempt))
        error = error_from_postgrest(response.status_code, body, self._retry_after_seconds)
        if isinstance(error, InternalError | UpstreamUnavailable):
            # Never in the client's answer, but operators need the SQLSTATE.
            _log.warning(
                "postgrest answered %s sqlstate=%s on %s %s",
                response.status_code, sqlstate, method, path,
            )  # fmt: skip
        raise error

    def _exchange(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        params: Params | None,
        content: bytes | None,
    ) -> httpx.Response:
        query = tuple(params) if params else None
        try:
            return self._client.request(method, url, params=query, headers=headers, content=content)
        except httpx.TransportError as error:
            _log.warning("postgrest unreachable: %s", type(error).__name__)
            raise UpstreamUnavailable(self._retry_after_seconds) from None

    def _backoff(self, attempt: int) -> float:
        # Jitter keeps retried transactions from colliding again in lockstep; not security.
        jitter: float = 0.5 + random.random()  # noqa: S311
        return self._backoff_seconds * float(2**attempt) * jitter

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return json.loads(response.content)
        except ValueError:
            raise InternalError() from None

    @staticmethod
    def _json_or_none(response: httpx.Response) -> Any:
        try:
            return json.loads(response.content)
        except ValueError:
            return None
