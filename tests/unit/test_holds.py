"""The holds function: placing a hold idempotently, reading, listing, capturing and voiding."""

from __future__ import annotations

import json
from typing import Any

import pytest
import respx

from functions.holds import HoldPublic
from tests.unit.conftest import (
    ACCOUNT_ID,
    OTHER_ACCOUNT_ID,
    REST,
    TRANSFER_ID,
    AppFactory,
    FunctionClient,
    auth,
    error_of,
    money_headers,
)

HOLD_ID = "55555555-5555-4555-8555-555555555555"


def hold_row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": HOLD_ID,
        "from_account_id": ACCOUNT_ID,
        "to_account_id": OTHER_ACCOUNT_ID,
        "amount": 1234,
        "currency": "USD",
        "description": "card",
        "status": "pending",
        "captured_amount": 0,
        "released_amount": 0,
        "capture_transfer_id": None,
        "expires_at": "2026-01-09T03:04:05+00:00",
        "created_at": "2026-01-02T03:04:05+00:00",
        "closed_at": None,
    }
    row.update(overrides)
    return row


def hold_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "from_account_id": ACCOUNT_ID,
        "to_account_id": OTHER_ACCOUNT_ID,
        "amount": "12.34",
        "currency": "USD",
    }
    body.update(overrides)
    return body


def test_a_hold_is_placed_with_201_and_the_public_shape(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    route = upstream.post(f"{REST}/rpc/place_hold").respond(
        json=hold_row(replayed=False, initiated_by=None)
    )
    response = client.post(
        "/holds", headers=money_headers("k"), json=hold_body(expires_in_seconds=60)
    )
    assert response.status_code == 201
    body = response.get_json()
    HoldPublic.model_validate(body)
    assert (body["amount"], body["captured_amount"], body["status"]) == ("12.34", "0.00", "pending")
    assert "replayed" not in body
    assert "initiated_by" not in body
    assert "Idempotent-Replayed" not in response.headers
    assert json.loads(route.calls.last.request.content) == {
        "p_from_account_id": ACCOUNT_ID,
        "p_to_account_id": OTHER_ACCOUNT_ID,
        "p_amount": "12.34",
        "p_currency": "USD",
        "p_idempotency_key": "k",
        "p_description": None,
        "p_expires_in_seconds": 60,
    }


def test_a_replayed_hold_says_so(client: FunctionClient, upstream: respx.MockRouter) -> None:
    upstream.post(f"{REST}/rpc/place_hold").respond(json=hold_row(replayed=True))
    response = client.post("/holds", headers=money_headers(), json=hold_body())
    assert response.status_code == 201
    assert response.headers["Idempotent-Replayed"] == "true"


def test_the_holds_function_deploys_alone(app: AppFactory, upstream: respx.MockRouter) -> None:
    upstream.post(f"{REST}/rpc/place_hold").respond(json=hold_row())
    response = app("holds").post("/holds", headers=money_headers(), json=hold_body())
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"expires_in_seconds": 0}, "expires_in_seconds"),
        ({"expires_in_seconds": 2_592_001}, "expires_in_seconds"),
        ({"amount": 12.34}, "amount"),
        ({"amount": "1.234"}, "amount"),
        ({"currency": "usd"}, "currency"),
        ({"from_account_id": "nope"}, "from_account_id"),
    ],
)
def test_a_hold_with_a_bad_field_never_reaches_postgrest(
    client: FunctionClient, upstream: respx.MockRouter, change: dict[str, Any], field: str
) -> None:
    route = upstream.post(f"{REST}/rpc/place_hold").respond(json=hold_row())
    response = client.post("/holds", headers=money_headers(), json=hold_body(**change))
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "validation_failed"
    assert error["details"][0]["field"] == field
    assert not route.called


def test_a_hold_without_an_idempotency_key_is_refused(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    route = upstream.post(f"{REST}/rpc/place_hold").respond(json=hold_row())
    response = client.post("/holds", headers=auth(), json=hold_body())
    assert response.status_code == 400
    assert error_of(response)["code"] == "idempotency_key_required"
    assert not route.called


def test_a_capture_without_a_body_captures_everything(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    captured = hold_row(status="captured", captured_amount=1234, capture_transfer_id=TRANSFER_ID,
                        closed_at="2026-01-03T00:00:00+00:00")  # fmt: skip
    route = upstream.post(f"{REST}/rpc/capture_hold").respond(json=captured)
    response = client.post(f"/holds/{HOLD_ID}/capture", headers=auth())
    assert response.status_code == 200
    assert response.get_json()["capture_transfer_id"] == TRANSFER_ID
    assert json.loads(route.calls.last.request.content) == {"p_hold_id": HOLD_ID, "p_amount": None}


def test_a_partial_capture_sends_its_amount(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    route = upstream.post(f"{REST}/rpc/capture_hold").respond(json=hold_row(status="captured"))
    response = client.post(f"/holds/{HOLD_ID}/capture", headers=auth(), json={"amount": "5.00"})
    assert response.status_code == 200
    assert json.loads(route.calls.last.request.content)["p_amount"] == "5.00"


def test_a_capture_of_a_closed_hold_is_an_invalid_state(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    upstream.post(f"{REST}/rpc/capture_hold").respond(
        400, json={"code": "BK011", "message": f"hold (id={HOLD_ID}) is voided",
                   "details": "voided", "hint": None})  # fmt: skip
    response = client.post(f"/holds/{HOLD_ID}/capture", headers=auth(), json={})
    assert response.status_code == 409
    assert error_of(response)["code"] == "invalid_state"


def test_voiding_another_users_hold_is_not_found(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    upstream.post(f"{REST}/rpc/void_hold").respond(
        400, json={"code": "BK005", "message": "hold not found", "details": None, "hint": None}
    )
    response = client.post(f"/holds/{HOLD_ID}/void", headers=auth())
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_a_hold_is_read_with_its_status_at_this_moment(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    route = upstream.get(f"{REST}/holds").respond(json=[hold_row(status="expired")])
    response = client.get(f"/holds/{HOLD_ID}", headers=auth())
    assert response.status_code == 200
    assert response.get_json()["status"] == "expired"
    assert "status:hold_status" in route.calls.last.request.url.params["select"]


def test_a_missing_hold_is_not_found(client: FunctionClient, upstream: respx.MockRouter) -> None:
    upstream.get(f"{REST}/holds").respond(json=[])
    response = client.get(f"/holds/{HOLD_ID}", headers=auth())
    assert response.status_code == 404


def test_an_accounts_open_holds_are_the_unexpired_pending_ones(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    route = upstream.get(f"{REST}/holds").respond(json=[hold_row()])
    response = client.get(f"/holds?account_id={ACCOUNT_ID}", headers=auth())
    assert response.status_code == 200
    assert [hold["id"] for hold in response.get_json()["data"]] == [HOLD_ID]
    params = route.calls.last.request.url.params
    assert params["from_account_id"] == f"eq.{ACCOUNT_ID}"
    assert params["hold_status"] == "eq.pending"


def test_listing_holds_needs_an_account(client: FunctionClient, upstream: respx.MockRouter) -> None:
    response = client.get("/holds", headers=auth())
    assert response.status_code == 422
    assert error_of(response)["details"][0]["field"] == "account_id"
