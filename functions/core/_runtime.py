"""The process-wide objects, built once from Settings on first use and then shared.

One pooled `httpx.AsyncClient` (PostgREST and the rare JWKS fetch), the
verifier and the currency table with their caches. They belong to the event
loop that built them: functions-framework's ASGI server runs one loop
per worker process, so in production they are built once; a test client that
starts a new loop gets a new runtime (a pool cannot move between loops).
Tests call `reset_runtime()` after changing the environment.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

from ._config import Settings, get_settings
from ._jwt_verifier import JwksCache, JwtVerifier
from ._money import CurrencyTable
from ._postgrest import Postgrest, make_http_client

__all__ = ["Runtime", "get_runtime", "reset_runtime"]

_MAX_CURRENCIES = 1_000


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    http_client: httpx.AsyncClient
    postgrest: Postgrest
    verifier: JwtVerifier
    currencies: CurrencyTable
    loop: asyncio.AbstractEventLoop


def _build(settings: Settings) -> Runtime:
    http_client = make_http_client(settings)
    postgrest = Postgrest(settings, http_client)
    jwks = None
    if settings.jwks_url:
        jwks = JwksCache(
            settings.jwks_url,
            http_client,
            ttl_seconds=settings.jwks_cache_ttl_seconds,
            min_refetch_interval_seconds=settings.jwks_min_refetch_interval_seconds,
            timeout_seconds=settings.jwks_timeout_seconds,
            retry_after_seconds=settings.retry_after_seconds,
        )
    verifier = JwtVerifier(
        hs256_secret=settings.supabase_jwt_secret,
        jwks=jwks,
        issuer=settings.supabase_jwt_issuer,
        leeway_seconds=settings.jwt_leeway_seconds,
    )

    async def load_currencies() -> dict[str, int]:
        # Readable by anon: no caller's token needed, and never the service key.
        table = postgrest.table("currencies", token=settings.supabase_anon_key)
        rows = await postgrest.rows(table.select("code,exponent").limit(_MAX_CURRENCIES))
        return {str(row["code"]): int(row["exponent"]) for row in rows}

    currencies = CurrencyTable(load_currencies, ttl_seconds=settings.currency_cache_ttl_seconds)
    loop = asyncio.get_running_loop()
    return Runtime(settings, http_client, postgrest, verifier, currencies, loop)


_current: list[Runtime] = []


def get_runtime() -> Runtime:
    """The runtime of the running event loop (built on first use)."""
    loop = asyncio.get_running_loop()
    if not _current or _current[0].loop is not loop:
        _current[:] = [_build(get_settings())]
    return _current[0]


def reset_runtime() -> None:
    """Forget settings, caches and the pool (tests; never needed in production)."""
    _current.clear()
    get_settings.cache_clear()
