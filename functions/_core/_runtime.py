"""The process-wide objects, built once from Settings on first use and then shared.

One pooled `httpx.Client` serves PostgREST and the JWKS; the verifier and the
currency table keep their caches here. Functions-framework runs each target in
threads, so everything here is thread-safe. Tests call `reset_runtime()` after
changing the environment.
"""

from __future__ import annotations

import functools
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
    http: httpx.Client
    postgrest: Postgrest
    verifier: JwtVerifier
    currencies: CurrencyTable


def _build(settings: Settings) -> Runtime:
    http = make_http_client(settings)
    postgrest = Postgrest(settings, http)
    jwks = None
    if settings.jwks_url:
        jwks = JwksCache(
            settings.jwks_url,
            http,
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

    def load_currencies() -> dict[str, int]:
        # Readable by anon: no caller's token needed, and never the service key.
        params = [("select", "code,exponent"), ("limit", str(_MAX_CURRENCIES))]
        rows = postgrest.select("currencies", params, token=settings.supabase_anon_key)
        return {str(row["code"]): int(row["exponent"]) for row in rows}

    currencies = CurrencyTable(load_currencies, ttl_seconds=settings.currency_cache_ttl_seconds)
    return Runtime(settings, http, postgrest, verifier, currencies)


@functools.cache
def get_runtime() -> Runtime:
    return _build(get_settings())


def reset_runtime() -> None:
    """Forget settings, caches and the pool (tests; never needed in production)."""
    if get_runtime.cache_info().currsize:
        get_runtime().http.close()
    get_runtime.cache_clear()
    get_settings.cache_clear()
