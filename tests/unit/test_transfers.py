"""The transfers function: idempotent money movement and reading a transfer back."""

from __future__ import annotations

import json
from typing import Any

import pytest
import respx

from functions.transfers import TransferPublic
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
    transfer_row,
)


def transfer_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "from_account_id": ACCOUNT_ID,
        "to_account_id": OTHER_ACCOUNT_ID,
        "amount": "12.34",
        "currency": "USD",
        "description": "rent",
    }
    body.update(overrides)
    return body


def test_a_transfer_is_created_with_201_and_the_public_shape(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    route = upstream.post(f"{REST}/rpc/transfer_funds").respond(json=transfer_row())
    response = client.post("/transfers", headers=money_headers("key-1"), json=transfer_body())
    assert response.status_code == 201
    body = response.get_json()
    TransferPublic.model_validate(body)
    assert body["amount"] == "12.34"
    assert "replayed" not in body
    assert "kind" not in body
    assert "Idempotent-Replayed" not in response.headers
    assert json.loads(route.calls.last.request.content) == {
        "p_from_account_id": ACCOUNT_ID,
        "p_to_account_id": OTHER_ACCOUNT_ID,
        "p_amount": "12.34",
        "p_currency": "USD",
        "p_idempotency_key": "key-1",
        "p_description": "rent",
    }


def test_the_transfers_function_deploys_alone(app: AppFactory, upstream: respx.MockRouter) -> None:
    upstream.post(f"{REST}/rpc/transfer_funds").respond(json=transfer_row())
    response = app("transfers").post("/transfers", headers=money_headers(), json=transfer_body())
    assert response.status_code == 201


def test_a_replay_returns_the_same_status_and_body_marked_as_replayed(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    upstream.post(f"{REST}/rpc/transfer_funds").mock(
        side_effect=[
            respx.MockResponse(200, json=transfer_row(replayed=False)),
            respx.MockResponse(200, json=transfer_row(replayed=True)),
        ]
    )
    first = client.post("/transfers", headers=money_headers("same"), json=transfer_body())
    again = client.post("/transfers", headers=money_headers("same"), json=transfer_body())
    assert first.status_code == again.status_code == 201
    assert first.get_json() == again.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"


def test_a_replayed_refusal_has_the_first_status_and_body_marked_as_replayed(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    refusal = {"code": "BK001", "message": "account (id=a) has insufficient funds"}
    upstream.post(f"{REST}/rpc/transfer_funds").mock(
        side_effect=[
            respx.MockResponse(422, json={**refusal, "replayed": False}),
            respx.MockResponse(422, json={**refusal, "replayed": True}),
        ]
    )
    first = client.post("/transfers", headers=money_headers("same"), json=transfer_body())
    again = client.post("/transfers", headers=money_headers("same"), json=transfer_body())
    assert first.status_code == again.status_code == 422
    assert error_of(first)["code"] == error_of(again)["code"] == "insufficient_funds"
    assert error_of(first)["message"] == error_of(again)["message"]
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"


def test_a_transfer_without_an_idempotency_key_is_refused(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    route = upstream.post(f"{REST}/rpc/transfer_funds")
    response = client.post("/transfers", headers=auth(), json=transfer_body())
    assert response.status_code == 400
    assert error_of(response)["code"] == "idempotency_key_required"
    assert not route.called


@pytest.mark.parametrize("key", ["has space", "k" * 256, "é", "semi;colon"])
def test_a_malformed_idempotency_key_is_refused(client: FunctionClient, key: str) -> None:
    headers = {**auth(), "Idempotency-Key": key}
    response = client.post("/transfers", headers=headers, json=transfer_body())
    assert response.status_code == 422
    assert error_of(response)["details"][0]["field"] == "Idempotency-Key"


AMOUNT_MATRIX = [
    ("0", "USD", "greater than zero"),
    ("0.00", "USD", "greater than zero"),
    ("-1", "USD", "positive decimal string"),
    ("1.001", "USD", "has more decimals than USD allows (at most 2)"),
    ("1.00001", "USD", "has more decimals than USD allows (at most 2)"),
    ("1.5", "JPY", "has more decimals than JPY allows (none)"),
    ("1.00001", "KWD", "has more decimals than KWD allows (at most 3)"),
    ("1e3", "USD", "positive decimal string"),
    ("NaN", "USD", "positive decimal string"),
    ("Infinity", "USD", "positive decimal string"),
    (" 1", "USD", "positive decimal string"),
    ("01", "USD", "positive decimal string"),
    ("9223372036854775808", "JPY", "larger than the largest amount"),
    ("12345678901234567890", "JPY", "larger than the largest amount"),
    ("92233720368547758.08", "USD", "larger than the largest amount"),
    ("99999999999999999.99", "USD", "larger than the largest amount"),
    (1000, "USD", "not a JSON number"),
    (12.5, "USD", "not a JSON number"),
    (None, "USD", "not a JSON null"),
    (True, "USD", "not a JSON boolean"),
]


@pytest.mark.parametrize(("amount", "currency", "message"), AMOUNT_MATRIX)
def test_an_invalid_amount_is_refused_with_a_message_for_the_amount_field(
    client: FunctionClient, upstream: respx.MockRouter, amount: Any, currency: str, message: str
) -> None:
    route = upstream.post(f"{REST}/rpc/transfer_funds")
    body = transfer_body(amount=amount, currency=currency)
    response = client.post("/transfers", headers=money_headers(), json=body)
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "validation_failed"
    assert [problem["field"] for problem in error["details"]] == ["amount"]
    assert message in error["details"][0]["message"]
    assert not route.called


@pytest.mark.parametrize(
    ("amount", "currency"),
    [
        ("0.01", "USD"),
        ("1", "JPY"),
        ("1.234", "KWD"),
        ("100000", "USD"),
        ("9223372036854775807", "JPY"),
        ("92233720368547758.07", "USD"),
    ],
)
def test_amounts_within_the_currency_exponent_are_accepted(
    client: FunctionClient, upstream: respx.MockRouter, amount: str, currency: str
) -> None:
    upstream.post(f"{REST}/rpc/transfer_funds").respond(json=transfer_row(currency=currency))
    body = transfer_body(amount=amount, currency=currency)
    response = client.post("/transfers", headers=money_headers(), json=body)
    assert response.status_code == 201


def test_unknown_fields_and_missing_fields_are_named(client: FunctionClient) -> None:
    body = transfer_body(surprise=1)
    del body["to_account_id"]
    response = client.post("/transfers", headers=money_headers(), json=body)
    details = error_of(response)["details"]
    assert {problem["field"] for problem in details} == {"to_account_id", "surprise"}


def test_a_json_array_body_is_a_validation_error(client: FunctionClient) -> None:
    response = client.post("/transfers", headers=money_headers(), json=[1, 2])
    assert response.status_code == 422
    assert error_of(response)["details"][0]["field"] == "body"


def test_getting_a_transfer_the_caller_is_party_to(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    upstream.get(f"{REST}/transfers").respond(json=[transfer_row()])
    response = client.get(f"/transfers/{TRANSFER_ID}", headers=auth())
    assert response.status_code == 200
    assert response.get_json()["id"] == TRANSFER_ID


def test_a_transfer_the_caller_is_not_party_to_is_not_found(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    upstream.get(f"{REST}/transfers").respond(json=[])
    response = client.get(f"/transfers/{TRANSFER_ID}", headers=auth())
    assert response.status_code == 404


@pytest.mark.parametrize(
    "value",
    [
        "x",
        "33333333333343338333333333333333",
        f"urn:uuid:{OTHER_ACCOUNT_ID}",
        f"{{{OTHER_ACCOUNT_ID}}}",
    ],
)
def test_an_id_in_a_body_is_a_dashed_uuid_like_an_id_in_a_path(
    client: FunctionClient, upstream: respx.MockRouter, value: str
) -> None:
    route = upstream.post(f"{REST}/rpc/transfer_funds")
    body = transfer_body(to_account_id=value)
    response = client.post("/transfers", headers=money_headers(), json=body)
    assert response.status_code == 422
    assert error_of(response)["details"] == [
        {
            "field": "to_account_id",
            "message": 'must be a UUID such as "6ba7b810-9dad-11d1-80b4-00c04fd430c8"',
        }
    ]
    assert not route.called


def test_a_transfer_the_caller_is_not_a_party_to_is_not_found(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    upstream.get(f"{REST}/transfers").respond(json=[])  # RLS returns nothing
    response = client.get(f"/transfers/{TRANSFER_ID}", headers=auth())
    assert response.status_code == 404
    assert error_of(response) | {"request_id": None} == {
        "code": "not_found", "message": "no such transfer", "details": None, "request_id": None,
    }  # fmt: skip
