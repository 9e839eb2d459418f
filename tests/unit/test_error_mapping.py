"""Every SQLSTATE the ledger raises, and PostgREST's own failures, as the client sees them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from functions.core import ERROR_TABLE, kind_of
from tests.unit.conftest import (
    ACCOUNT_ID,
    OTHER_ACCOUNT_ID,
    REST,
    FunctionClient,
    error_of,
    money_headers,
)

TRANSFER = {
    "from_account_id": ACCOUNT_ID,
    "to_account_id": OTHER_ACCOUNT_ID,
    "amount": "1.00",
    "currency": "USD",
}

# Every ledger SQLSTATE in the error table, with the code and status the client gets.
LEDGER_SQLSTATES = [
    (state, kind.code, kind.status)
    for kind in ERROR_TABLE
    for state in kind.sqlstates
    if state.startswith("BK")
]


def postgrest_error(code: str, message: str = "", details: Any = None) -> dict[str, Any]:
    return {"code": code, "message": message, "details": details, "hint": None}


def post_transfer(client: FunctionClient) -> Any:
    return client.post("/transfers", headers=money_headers(), json=TRANSFER)


@pytest.mark.parametrize(("sqlstate", "code", "status"), LEDGER_SQLSTATES)
@pytest.mark.parametrize("http_status", [400, 409, 422])
def test_each_ledger_sqlstate_maps_to_its_code_and_status_whatever_postgrest_status_says(
    client: FunctionClient,
    upstream: respx.MockRouter,
    sqlstate: str,
    code: str,
    status: int,
    http_status: int,
) -> None:
    body = postgrest_error(sqlstate, f"account (id={ACCOUNT_ID}) says {code}")
    upstream.post(f"{REST}/rpc/transfer_funds").respond(http_status, json=body)
    response = post_transfer(client)
    assert response.status_code == status
    error = error_of(response)
    assert error["code"] == code
    assert error["message"] == body["message"]


def test_a_ledger_error_without_a_message_gets_a_readable_one(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    upstream.post(f"{REST}/rpc/transfer_funds").respond(422, json=postgrest_error("BK001"))
    assert error_of(post_transfer(client))["message"] == "insufficient funds"


def test_rate_limited_carries_retry_after_from_the_details(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    body = postgrest_error("BK008", "slow down", "7")
    upstream.post(f"{REST}/rpc/transfer_funds").respond(429, json=body)
    response = post_transfer(client)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"


def test_rate_limited_with_unreadable_details_waits_one_second(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    body = postgrest_error("BK008", "slow down", "soon")
    upstream.post(f"{REST}/rpc/transfer_funds").respond(429, json=body)
    assert post_transfer(client).headers["Retry-After"] == "1"


def test_a_validation_failure_from_sql_names_the_field(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    body = postgrest_error("BK009", "amount has too many decimals", "p_amount")
    upstream.post(f"{REST}/rpc/transfer_funds").respond(400, json=body)
    error = error_of(post_transfer(client))
    assert error["details"] == [{"field": "amount", "message": "amount has too many decimals"}]


@pytest.mark.parametrize(
    ("sqlstate", "status", "code"),
    [
        ("PGRST301", 401, "unauthorized"),
        ("PGRST116", 404, "not_found"),
        ("42501", 403, "forbidden"),
        ("22P02", 422, "validation_failed"),
        ("23514", 422, "validation_failed"),
        ("57014", 503, "upstream_unavailable"),
        ("PGRST001", 503, "upstream_unavailable"),
        ("42883", 500, "internal"),
    ],
)
def test_platform_errors_are_mapped_without_leaking_their_text(
    client: FunctionClient, upstream: respx.MockRouter, sqlstate: str, status: int, code: str
) -> None:
    assert kind_of(code).status == status
    secret_text = "function public.transfer_funds(uuid) does not exist at db.internal:5432"
    body = postgrest_error(sqlstate, secret_text, "select * from accounts")
    upstream.post(f"{REST}/rpc/transfer_funds").respond(400, json=body)
    response = post_transfer(client)
    assert response.status_code == status
    assert error_of(response)["code"] == code
    text = response.get_data(as_text=True)
    assert "db.internal" not in text
    assert "select" not in text
    assert "transfer_funds" not in text


def test_an_unauthorized_answer_from_postgrest_carries_www_authenticate(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    upstream.post(f"{REST}/rpc/transfer_funds").respond(401, json=postgrest_error("PGRST301"))
    assert post_transfer(client).headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_postgrest_answering_5xx_is_upstream_unavailable_with_retry_after(
    client: FunctionClient, upstream: respx.MockRouter, status: int
) -> None:
    upstream.post(f"{REST}/rpc/transfer_funds").respond(status, text="<html>nginx</html>")
    response = post_transfer(client)
    assert response.status_code == 503
    assert error_of(response)["code"] == "upstream_unavailable"
    assert response.headers["Retry-After"] == "1"


# What PostgREST answers when the database backend dies mid-call: the call may have
# committed, so the client must hear 503 (retry with the same key), never 500.
BACKEND_DIED_ANSWERS = [
    pytest.param(400, {"code": "", "message": "", "details": None, "hint": None}, id="empty-code"),
    pytest.param(400, {"code": None, "message": "server closed the connection"}, id="null-code"),
    pytest.param(400, {"message": "no code at all"}, id="no-code-field"),
    pytest.param(500, {"code": "XX000", "message": "internal"}, id="5xx-with-a-sqlstate"),
    pytest.param(502, {"code": "", "message": ""}, id="5xx-empty-code"),
    pytest.param(404, "not here", id="4xx-text-body"),
    pytest.param(400, "", id="empty-body"),
    pytest.param(400, [{"code": "BK001"}], id="json-that-is-not-an-error-object"),
]


@pytest.mark.parametrize(("status", "body"), BACKEND_DIED_ANSWERS)
def test_an_answer_without_a_sqlstate_is_503_retry_with_the_key_and_is_not_repeated(
    client: FunctionClient, upstream: respx.MockRouter, status: int, body: Any
) -> None:
    answer = (
        httpx.Response(status, text=body)
        if isinstance(body, str)
        else httpx.Response(status, json=body)
    )
    route = upstream.post(f"{REST}/rpc/transfer_funds").mock(return_value=answer)
    response = post_transfer(client)
    assert response.status_code == 503
    assert error_of(response)["code"] == "upstream_unavailable"
    assert response.headers["Retry-After"] == "1"
    assert route.call_count == 1


def test_postgrest_down_is_503_with_retry_after(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    upstream.post(f"{REST}/rpc/transfer_funds").mock(side_effect=httpx.ConnectError("refused"))
    response = post_transfer(client)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert "refused" not in response.get_data(as_text=True)


def test_postgrest_too_slow_is_503_and_the_call_is_not_repeated(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    route = upstream.post(f"{REST}/rpc/transfer_funds").mock(side_effect=httpx.ReadTimeout("slow"))
    response = post_transfer(client)
    assert response.status_code == 503
    assert error_of(response)["code"] == "upstream_unavailable"
    assert route.call_count == 1


@pytest.mark.parametrize("sqlstate", ["40001", "40P01"])
def test_a_serialization_failure_or_deadlock_is_retried_then_succeeds(
    client: FunctionClient, upstream: respx.MockRouter, sqlstate: str
) -> None:
    from tests.unit.conftest import transfer_row

    route = upstream.post(f"{REST}/rpc/transfer_funds").mock(
        side_effect=[
            httpx.Response(409, json=postgrest_error(sqlstate)),
            httpx.Response(409, json=postgrest_error(sqlstate)),
            httpx.Response(200, json=transfer_row()),
        ]
    )
    response = post_transfer(client)
    assert response.status_code == 201
    assert route.call_count == 3
    keys = {call.request.content for call in route.calls}
    assert len(keys) == 1  # the same idempotency key every time


def test_retries_are_bounded_then_the_answer_is_503(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    route = upstream.post(f"{REST}/rpc/transfer_funds").respond(409, json=postgrest_error("40001"))
    response = post_transfer(client)
    assert response.status_code == 503
    assert error_of(response)["code"] == "upstream_unavailable"
    assert route.call_count == 4  # the first try and POSTGREST_MAX_RETRIES=3 more


def test_other_errors_are_never_retried(client: FunctionClient, upstream: respx.MockRouter) -> None:
    route = upstream.post(f"{REST}/rpc/transfer_funds").respond(422, json=postgrest_error("BK001"))
    post_transfer(client)
    assert route.call_count == 1


def test_a_success_that_is_not_json_is_an_internal_error(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    upstream.post(f"{REST}/rpc/transfer_funds").respond(200, text="oops")
    assert post_transfer(client).status_code == 500


def test_a_success_of_the_wrong_shape_is_an_internal_error(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    upstream.post(f"{REST}/rpc/transfer_funds").respond(200, json=[1])
    upstream.get(f"{REST}/accounts").respond(200, json={"not": "a list"})
    assert post_transfer(client).status_code == 500
    from tests.unit.conftest import auth

    assert client.get("/accounts", headers=auth()).status_code == 500
