"""The functions' configuration: one `Settings` object read from the environment and,
for what the environment leaves unset, from a `.env` file in the working directory.

It fails closed. Outside `ENVIRONMENT=local`, a missing secret or a known
placeholder (the local demo JWT secret, an `.env.example` value) stops the
process at start with a message naming the variable, so a misconfigured
deployment never answers a single request. Everything that costs something per
request (URLs, origin sets) is derived here once.
"""

from __future__ import annotations

import functools
from typing import Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ConfigError", "Settings", "get_settings"]

LOCAL_DEMO_JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"  # noqa: S105
_PLACEHOLDER_MARKERS = ("changeme", "change-me", "replace-me", "your-", "<", "example")
_MIN_SECRET_LENGTH = 32


class ConfigError(RuntimeError):
    """The environment does not describe a usable deployment."""


def _is_placeholder(value: str) -> bool:
    lowered = value.strip().lower()
    if not lowered or value == LOCAL_DEMO_JWT_SECRET:
        return True
    return any(marker in lowered for marker in _PLACEHOLDER_MARKERS)


class Settings(BaseSettings):
    """Read once per process; field names are the environment variable names."""

    # A `.env` in the working directory fills in what the environment leaves unset (local
    # development); a variable set in the environment always wins over the file.
    model_config = SettingsConfigDict(
        case_sensitive=False,
        extra="ignore",
        frozen=True,
        env_file=".env",
        env_file_encoding="utf-8",
    )

    environment: Literal["local", "test", "staging", "production"] = "production"
    supabase_url: str = ""
    postgrest_url: str = ""
    supabase_anon_key: str = ""
    supabase_jwt_secret: str = ""
    supabase_jwks_url: str | None = None
    supabase_jwt_issuer: str = ""
    cors_allowed_origins: str = ""
    # The payments webhook (functions/webhooks) alone holds it: the provider's events
    # carry no user, so the webhook calls its one RPC as service_role.
    supabase_service_role_key: str = ""
    # Comma-separated Stripe signing secrets: during a rotation both the old and the new
    # one verify. Unset, the webhook refuses every event with 503 (the provider retries).
    stripe_webhook_secrets: str = ""
    stripe_webhook_tolerance_seconds: int = Field(default=300, ge=1, le=3_600)
    # Provider events are larger than any request of ours; the webhook alone reads this much.
    webhook_max_body_bytes: int = Field(default=262_144, ge=1_024, le=4_194_304)

    # The transport under the pooled httpx client to PostgREST: aiohttp's costs less CPU
    # per request (docs/decisions/); httpx's own is the fallback, with no aiohttp loaded.
    postgrest_transport: Literal["aiohttp", "httpx"] = "aiohttp"
    max_body_bytes: int = Field(default=65_536, ge=256, le=1_048_576)
    postgrest_connect_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
    postgrest_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    postgrest_pool_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
    postgrest_max_connections: int = Field(default=32, ge=1, le=1024)
    postgrest_max_keepalive_connections: int = Field(default=16, ge=0, le=1024)
    postgrest_keepalive_expiry_seconds: float = Field(default=4.0, ge=0, le=300)
    postgrest_max_retries: int = Field(default=3, ge=0, le=10)
    postgrest_retry_backoff_seconds: float = Field(default=0.02, ge=0, le=2)
    health_timeout_seconds: float = Field(default=1.0, gt=0, le=10)
    jwks_timeout_seconds: float = Field(default=3.0, gt=0, le=30)
    jwks_cache_ttl_seconds: float = Field(default=600.0, ge=0, le=86_400)
    jwks_min_refetch_interval_seconds: float = Field(default=30.0, ge=0, le=3_600)
    jwt_leeway_seconds: int = Field(default=10, ge=0, le=120)
    currency_cache_ttl_seconds: float = Field(default=300.0, ge=0, le=86_400)
    retry_after_seconds: int = Field(default=1, ge=1, le=3_600)
    statement_max_rows: int = Field(default=10_000, ge=1, le=100_000)

    @model_validator(mode="after")
    def _derive_defaults(self) -> Settings:
        base = self.supabase_url.rstrip("/")
        if not self.postgrest_url and base:
            object.__setattr__(self, "postgrest_url", f"{base}/rest/v1")
        if self.supabase_jwks_url is None:
            jwks = f"{base}/auth/v1/.well-known/jwks.json" if base else ""
            object.__setattr__(self, "supabase_jwks_url", jwks)
        object.__setattr__(self, "postgrest_url", self.postgrest_url.rstrip("/"))
        return self

    @property
    def is_local(self) -> bool:
        return self.environment == "local"

    @property
    def jwks_url(self) -> str:
        return self.supabase_jwks_url or ""

    @functools.cached_property
    def webhook_secrets(self) -> tuple[str, ...]:
        secrets = (item.strip() for item in self.stripe_webhook_secrets.split(","))
        return tuple(secret for secret in secrets if secret)

    @functools.cached_property
    def allowed_origins(self) -> frozenset[str]:
        origins = (item.strip().rstrip("/") for item in self.cors_allowed_origins.split(","))
        return frozenset(origin for origin in origins if origin)

    def problems(self) -> list[str]:
        """What keeps this configuration from serving requests, one line per variable."""
        found: list[str] = []
        if not self.postgrest_url:
            found.append("SUPABASE_URL (or POSTGREST_URL) is missing")
        if not self.supabase_anon_key:
            found.append("SUPABASE_ANON_KEY is missing")
        if not self.supabase_jwt_secret and not self.jwks_url:
            found.append("SUPABASE_JWT_SECRET is missing and SUPABASE_JWKS_URL is empty")
        if self.is_local:
            return found
        if self.supabase_anon_key and _is_placeholder(self.supabase_anon_key):
            found.append("SUPABASE_ANON_KEY is a placeholder value")
        secret = self.supabase_jwt_secret
        if secret and (_is_placeholder(secret) or len(secret) < _MIN_SECRET_LENGTH):
            found.append(
                "SUPABASE_JWT_SECRET is a placeholder or the local demo secret "
                f"(or shorter than {_MIN_SECRET_LENGTH} characters)"
            )
        found.extend(self._webhook_problems())
        for name, url in (
            ("SUPABASE_URL", self.supabase_url),
            ("POSTGREST_URL", self.postgrest_url),
            ("SUPABASE_JWKS_URL", self.jwks_url),
        ):
            if url and not url.startswith("https://"):
                found.append(f"{name} must use https:// outside ENVIRONMENT=local")
        return found

    def _webhook_problems(self) -> list[str]:
        """Unset, the webhook is off (503); set, its secrets and key must be real ones."""
        if not self.webhook_secrets:
            return []
        found: list[str] = []
        if any(not s.startswith("whsec_") or _is_placeholder(s) for s in self.webhook_secrets):
            found.append("STRIPE_WEBHOOK_SECRETS holds a placeholder or a value not from Stripe")
        key = self.supabase_service_role_key
        if not key or _is_placeholder(key):
            found.append(
                "SUPABASE_SERVICE_ROLE_KEY is missing or a placeholder while "
                "STRIPE_WEBHOOK_SECRETS is set"
            )
        return found


def load_settings() -> Settings:
    """Build and check the settings, or raise ConfigError naming every bad variable."""
    try:
        settings = Settings()
    except ValidationError as error:
        names = ", ".join(str(item["loc"][0]).upper() for item in error.errors() if item["loc"])
        raise ConfigError(f"invalid configuration in {names}: {error}") from None
    problems = settings.problems()
    if problems:
        raise ConfigError(
            f"refusing to start (ENVIRONMENT={settings.environment}): " + "; ".join(problems)
        )
    return settings


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings; tests call `get_settings.cache_clear()` after changing env."""
    return load_settings()
