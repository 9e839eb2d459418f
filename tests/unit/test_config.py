"""Configuration fails closed outside local development, naming the variable."""

from __future__ import annotations

from pathlib import Path

import functions_framework
import pytest

from functions.core import ConfigError, load_settings, reset_runtime
from functions.core._config import LOCAL_DEMO_JWT_SECRET
from tests.unit.conftest import MAIN, SUPABASE_URL

PRODUCTION = {
    "ENVIRONMENT": "production",
    "SUPABASE_URL": "https://abcd.supabase.co",
    "SUPABASE_ANON_KEY": "eyJhbGciOiJIUzI1NiJ9.anon-key-from-the-dashboard.sig",
    "SUPABASE_JWT_SECRET": "a-real-project-secret-0123456789abcdef-XYZ",
}


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SUPABASE_JWT_ISSUER")
    return monkeypatch


def test_a_complete_production_configuration_loads_and_derives_urls(
    production: pytest.MonkeyPatch,
) -> None:
    settings = load_settings()
    assert settings.postgrest_url == "https://abcd.supabase.co/rest/v1"
    assert settings.jwks_url == "https://abcd.supabase.co/auth/v1/.well-known/jwks.json"
    assert settings.allowed_origins == frozenset(
        {"https://app.example.com", "https://admin.example.com"}
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SUPABASE_JWT_SECRET", LOCAL_DEMO_JWT_SECRET),
        ("SUPABASE_JWT_SECRET", "changeme"),
        ("SUPABASE_JWT_SECRET", "short-secret"),
        ("SUPABASE_ANON_KEY", ""),
        ("SUPABASE_ANON_KEY", "<your-anon-key>"),
        ("SUPABASE_URL", ""),
        ("SUPABASE_URL", "http://abcd.supabase.co"),
        ("SUPABASE_JWKS_URL", "file:///tmp/jwks.json"),
    ],
)
def test_a_missing_or_placeholder_value_outside_local_stops_start_naming_it(
    production: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    production.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        load_settings()


def test_a_deployment_stops_at_start_not_at_its_first_request(
    production: pytest.MonkeyPatch,
) -> None:
    production.setenv("SUPABASE_JWT_SECRET", LOCAL_DEMO_JWT_SECRET)
    reset_runtime()
    with pytest.raises(ConfigError, match="SUPABASE_JWT_SECRET"):
        functions_framework.create_app("accounts", MAIN)  # type: ignore[no-untyped-call]


def test_without_any_way_to_verify_tokens_start_stops(production: pytest.MonkeyPatch) -> None:
    production.setenv("SUPABASE_JWT_SECRET", "")
    production.setenv("SUPABASE_JWKS_URL", "")
    with pytest.raises(ConfigError, match="SUPABASE_JWKS_URL"):
        load_settings()


def test_jwks_alone_is_enough_in_production(production: pytest.MonkeyPatch) -> None:
    production.setenv("SUPABASE_JWT_SECRET", "")
    assert load_settings().jwks_url.endswith("/jwks.json")


def test_local_development_accepts_the_demo_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPABASE_JWT_SECRET", LOCAL_DEMO_JWT_SECRET)
    monkeypatch.setenv("POSTGREST_URL", "http://127.0.0.1:54321/")
    settings = load_settings()
    assert settings.postgrest_url == "http://127.0.0.1:54321"
    assert settings.supabase_url == SUPABASE_URL


def test_even_locally_the_anon_key_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPABASE_ANON_KEY", "")
    with pytest.raises(ConfigError, match="SUPABASE_ANON_KEY"):
        load_settings()


def test_out_of_bounds_limits_are_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAX_BODY_BYTES", "999999999")
    with pytest.raises(ConfigError, match="MAX_BODY_BYTES"):
        load_settings()


def test_an_unknown_environment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "prod")
    with pytest.raises(ConfigError, match="ENVIRONMENT"):
        load_settings()


def test_settings_the_environment_leaves_unset_come_from_a_dot_env_file(
    production: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    production.chdir(tmp_path)
    production.delenv("ENVIRONMENT")
    production.delenv("CORS_ALLOWED_ORIGINS", raising=False)
    (tmp_path / ".env").write_text(
        "ENVIRONMENT=staging\nCORS_ALLOWED_ORIGINS=https://bank.example.org\n"
        "SUPABASE_URL=https://ignored.supabase.co\n"
    )
    settings = load_settings()
    assert settings.environment == "staging"
    assert settings.allowed_origins == frozenset({"https://bank.example.org"})
    # The environment wins over the file.
    assert settings.supabase_url == PRODUCTION["SUPABASE_URL"]


def test_without_a_dot_env_file_the_environment_alone_decides(
    production: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    production.chdir(tmp_path)
    production.delenv("ENVIRONMENT")
    assert load_settings().environment == "production"
