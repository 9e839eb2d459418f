"""What every function shares: limits, routing errors, CORS, request ids, logs, the 500 path."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import respx

from functions.core import reset_runtime
from functions.core._postgrest import Postgrest
from tests.unit.conftest import (
    ACCOUNT_ID,
    ORIGIN,
    REST,
    AppFactory,
    FunctionClient,
    account_row,
    auth,
    error_of,
    hs256_token,
    money_headers,
)


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]


def test_a_body_declared_over_the_limit_is_refused_with_413(client: FunctionClient) -> None:
    response = client.post("/transfers", headers=money_headers(), data=b"{" + b" " * 70_000)
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"


def test_a_chunked_body_over_the_limit_is_refused_with_413(
    client: FunctionClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_BODY_BYTES", "1024")
    reset_runtime()
    response = client.post(
        "/transfers",
        headers=money_headers(),
        input_stream=io.BytesIO(b"[" + b"1," * 1000 + b"1]"),
    )
    assert response.status_code == 413


def test_a_chunked_body_within_the_limit_is_read(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    upstream.post(f"{REST}/rpc/rename_account").respond(json=account_row(nickname="chunk"))
    response = client.patch(
        f"/accounts/{ACCOUNT_ID}",
        headers=auth(),
        input_stream=io.BytesIO(b'{"nickname": "chunk"}'),
    )
    assert response.status_code == 200


@pytest.mark.parametrize("body", [b"{not json", b'{"a": 1', b"\xff\xfe", b"[" * 100_00])
def test_malformed_json_is_400_invalid_json(client: FunctionClient, body: bytes) -> None:
    response = client.post("/transfers", headers=money_headers(), data=body)
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_json"


def test_an_empty_body_is_400_invalid_json(client: FunctionClient) -> None:
    response = client.post("/transfers", headers=money_headers())
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_json"


def test_a_wrong_method_is_405_with_allow(client: FunctionClient) -> None:
    response = client.delete(f"/accounts/{ACCOUNT_ID}", headers=auth())
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD, PATCH, OPTIONS"
    assert error_of(response)["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    "path", ["/accounts/", "/accounts/a/b/c", "/transfer", "/", "/admin/nowhere/x/approve"]
)
def test_an_unknown_path_is_404_not_found(client: FunctionClient, path: str) -> None:
    response = client.get(path, headers=auth())
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_a_function_deployed_alone_does_not_answer_another_functions_paths(
    app: AppFactory, upstream: respx.MockRouter
) -> None:
    assert app("transfers").get("/accounts", headers=auth()).status_code == 404


def test_a_cors_preflight_from_an_allowed_origin_is_answered(client: FunctionClient) -> None:
    response = client.options(
        "/transfers",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, idempotency-key, content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in response.headers["Access-Control-Allow-Methods"].split(", ")
    allowed = {name.strip() for name in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert allowed >= {
        "authorization",
        "apikey",
        "content-type",
        "idempotency-key",
        "x-client-info",
    }
    assert "Origin" in response.headers["Vary"]
    assert response.headers["X-Request-Id"]


@pytest.mark.parametrize("origin", ["http://localhost:3000", "http://127.0.0.1:5173"])
def test_a_preflight_from_a_local_dev_server_to_post_transfers_succeeds_locally(
    client: FunctionClient, origin: str
) -> None:
    response = client.options(
        "/transfers",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, apikey, idempotency-key, "
            "content-type, x-client-info",
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == origin


@pytest.mark.parametrize(
    "origin", ["http://localhost.evil.example", "https://localhost:3000", "http://10.0.0.1:3000"]
)
def test_a_preflight_from_an_origin_that_only_looks_local_is_refused(
    client: FunctionClient, origin: str
) -> None:
    response = client.options(
        "/transfers", headers={"Origin": origin, "Access-Control-Request-Method": "POST"}
    )
    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"


def test_outside_local_development_only_the_configured_origins_are_allowed(
    app: AppFactory, upstream: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "staging")
    monkeypatch.setenv("SUPABASE_URL", "https://project.supabase.co")
    reset_runtime()
    client = app("transfers")
    preflight = {"Access-Control-Request-Method": "POST"}
    local = client.options("/transfers", headers={**preflight, "Origin": "http://localhost:3000"})
    configured = client.options("/transfers", headers={**preflight, "Origin": ORIGIN})
    assert local.status_code == 403
    assert "Access-Control-Allow-Origin" not in local.headers
    assert configured.status_code == 200
    assert configured.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_a_cors_preflight_from_another_origin_is_refused(client: FunctionClient) -> None:
    response = client.options(
        "/transfers",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response.headers


def test_a_cors_preflight_for_a_method_no_function_serves_is_refused(
    client: FunctionClient,
) -> None:
    response = client.options(
        "/transfers", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "DELETE"}
    )
    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"


def test_answers_to_an_allowed_origin_carry_cors_headers_and_others_do_not(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    upstream.get(f"{REST}/accounts").respond(json=[])
    allowed = client.get("/accounts", headers={**auth(), "Origin": ORIGIN})
    assert allowed.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "X-Request-Id" in allowed.headers["Access-Control-Expose-Headers"]
    other = client.get("/accounts", headers={**auth(), "Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    assert other.headers["Vary"] == "Origin"


def test_a_well_formed_request_id_is_echoed(client: FunctionClient) -> None:
    response = client.get("/accounts", headers={"X-Request-Id": "trace-1.2_3"})
    assert response.headers["X-Request-Id"] == "trace-1.2_3"
    assert error_of(response)["request_id"] == "trace-1.2_3"


@pytest.mark.parametrize("given", ["has space", "x" * 65, "semi;colon", "", "tab\there"])
def test_a_malformed_request_id_is_replaced(client: FunctionClient, given: str) -> None:
    response = client.get("/accounts", headers={"X-Request-Id": given})
    assert response.headers["X-Request-Id"] != given
    assert len(response.headers["X-Request-Id"]) == 24


def test_every_request_logs_one_json_line_without_secrets(
    client: FunctionClient, upstream: respx.MockRouter, capsys: pytest.CaptureFixture[str]
) -> None:
    upstream.post(f"{REST}/rpc/transfer_funds").respond(422, json={"code": "BK001"})
    token = hs256_token()
    capsys.readouterr()
    body = {
        "from_account_id": ACCOUNT_ID,
        "to_account_id": ACCOUNT_ID,
        "amount": "777.77",
        "currency": "USD",
    }
    client.post(
        "/transfers", headers={**money_headers(token=token), "X-Request-Id": "r1"}, json=body
    )
    lines = log_lines(capsys)
    assert len(lines) == 1
    line = lines[0]
    assert line["method"] == "POST"
    assert line["path"] == "/transfers"
    assert line["status"] == 422
    assert line["request_id"] == "r1"
    assert isinstance(line["latency_ms"], float)
    raw = json.dumps(line)
    assert token not in raw
    assert "777.77" not in raw
    assert "key-1" not in raw


def test_the_log_line_names_the_path_template_not_the_ids(
    client: FunctionClient, upstream: respx.MockRouter, capsys: pytest.CaptureFixture[str]
) -> None:
    upstream.get(f"{REST}/accounts").respond(json=[])
    capsys.readouterr()
    client.get(f"/accounts/{ACCOUNT_ID}", headers=auth())
    assert log_lines(capsys)[0]["path"] == "/accounts/{account_id}"


def test_an_unexpected_exception_is_logged_with_the_request_id_and_answered_500(
    client: FunctionClient,
    upstream: respx.MockRouter,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def explode(*args: object, **kwargs: object) -> object:
        raise RuntimeError("connection to db.internal:5432 with password hunter2")

    monkeypatch.setattr(Postgrest, "rows", explode)
    capsys.readouterr()
    response = client.get("/accounts", headers={**auth(), "X-Request-Id": "boom-1"})
    assert response.status_code == 500
    error = error_of(response)
    assert error == {
        "code": "internal",
        "message": "internal error",
        "details": None,
        "request_id": "boom-1",
    }
    crash, access = log_lines(capsys)
    assert crash["request_id"] == "boom-1"
    assert "RuntimeError" in crash["traceback"]
    assert access["status"] == 500


def test_the_openapi_document_is_served(client: FunctionClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.get_json()["openapi"] == "3.1.0"


def test_an_early_refusal_of_an_oversized_body_does_not_read_the_body(
    client: FunctionClient,
) -> None:
    class Exploding(io.BytesIO):
        def read(self, size: int | None = -1, /) -> bytes:
            raise AssertionError("the oversized body was read")

    response = client.post(
        "/transfers",
        headers={"Authorization": "Bearer not-a-token", "Content-Length": "999999"},
        input_stream=Exploding(),
    )
    assert response.status_code == 401


def test_an_early_refusal_of_a_chunked_body_does_not_read_the_body(
    client: FunctionClient,
) -> None:
    class Exploding(io.BytesIO):
        def read(self, size: int | None = -1, /) -> bytes:
            raise AssertionError("the refused body was read")

    response = client.post("/transfers", input_stream=Exploding())
    assert response.status_code == 401
