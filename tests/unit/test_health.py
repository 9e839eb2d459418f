"""The health function: no auth, says whether PostgREST answers."""

from __future__ import annotations

import httpx
import respx

from tests.unit.conftest import REST, AppFactory


def test_health_says_ok_when_postgrest_answers(app: AppFactory, upstream: respx.MockRouter) -> None:
    response = app("health").get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "postgrest": "up"}
    sent = upstream.routes["currencies"].calls.last.request.headers
    assert sent["apikey"] == sent["authorization"].removeprefix("Bearer ")


def test_health_is_503_when_postgrest_is_down(app: AppFactory, upstream: respx.MockRouter) -> None:
    upstream.routes["currencies"].side_effect = httpx.ConnectError("refused")
    response = app("health").get("/health")
    assert response.status_code == 503
    assert response.get_json() == {"status": "degraded", "postgrest": "down"}
    assert response.headers["Retry-After"] == "1"


def test_health_is_503_when_postgrest_answers_5xx(
    app: AppFactory, upstream: respx.MockRouter
) -> None:
    upstream.get(f"{REST}/currencies").respond(503)
    assert app("health").get("/health").status_code == 503
