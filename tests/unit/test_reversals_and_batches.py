"""Refunds, staff reversals and batches: the routes' requests, answers and error details."""

from __future__ import annotations

import json
from typing import Any

import respx

from functions.transfers import ReversalPublic
from functions.transfers._models import TransferBatchPublic, TransferDetail
from tests.unit.conftest import (
    ACCOUNT_ID,
    OTHER_ACCOUNT_ID,
    REST,
    TRANSFER_ID,
    FunctionClient,
    admin_token,
    auth,
    error_of,
    money_headers,
    transfer_row,
)

REVERSAL_ID = "55555555-5555-4555-8555-555555555555"


def item(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "from_account_id": ACCOUNT_ID,
        "to_account_id": OTHER_ACCOUNT_ID,
        "amount": "1.50",
        "currency": "USD",
    }
    body.update(overrides)
    return body


def batch_reply(count: int, *, replayed: bool = False) -> dict[str, Any]:
    return {
        "id": REVERSAL_ID,
        "created_at": "2026-01-02T03:04:05+00:00",
        "replayed": replayed,
        "transfers": [transfer_row(amount=150 + n, replayed=None) for n in range(count)],
    }


def test_a_batch_sends_every_item_and_answers_201_with_the_transfers_in_order(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    route = upstream.post(f"{REST}/rpc/transfer_funds_batch").respond(json=batch_reply(2))
    body = {"transfers": [item(), item(amount="2", description="second")]}
    response = client.post("/transfers/batch", headers=money_headers("b-1"), json=body)
    assert response.status_code == 201
    TransferBatchPublic.model_validate(response.get_json())
    assert [t["amount"] for t in response.get_json()["transfers"]] == ["1.50", "1.51"]
    assert "Idempotent-Replayed" not in response.headers
    sent = json.loads(route.calls.last.request.content)
    assert sent["p_idempotency_key"] == "b-1"
    assert sent["p_transfers"][1] == item(amount="2", description="second")
    assert sent["p_transfers"][0]["description"] is None


def test_a_replayed_batch_is_marked(client: FunctionClient, upstream: respx.MockRouter) -> None:
    upstream.post(f"{REST}/rpc/transfer_funds_batch").respond(json=batch_reply(1, replayed=True))
    response = client.post(
        "/transfers/batch", headers=money_headers(), json={"transfers": [item()]}
    )
    assert response.status_code == 201
    assert response.headers["Idempotent-Replayed"] == "true"


def test_an_item_refusal_names_its_index_and_code(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    refusal = {
        "code": "BK004",
        "message": "transfers[1]: account (id=x) is frozen",
        "details": '{"index": 1, "details": "frozen"}',
        "hint": None,
        "replayed": True,
    }
    upstream.post(f"{REST}/rpc/transfer_funds_batch").respond(409, json=refusal)
    body = {"transfers": [item(), item()]}
    response = client.post("/transfers/batch", headers=money_headers(), json=body)
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "account_inactive"
    assert error["details"] == {"index": 1, "code": "account_inactive", "details": "frozen"}
    assert response.headers["Idempotent-Replayed"] == "true"


def test_a_refusal_without_an_index_keeps_its_details(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    upstream.post(f"{REST}/rpc/transfer_funds_batch").respond(
        429, json={"code": "BK008", "message": "more than 600 transfers", "details": "12"}
    )
    response = client.post(
        "/transfers/batch", headers=money_headers(), json={"transfers": [item()]}
    )
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "12"


def test_batch_items_are_validated_before_postgrest_and_named_by_path(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    route = upstream.post(f"{REST}/rpc/transfer_funds_batch").respond(json=batch_reply(1))
    cases = [
        ({"transfers": [item(), item(amount="1.001")]}, "transfers.1.amount"),
        ({"transfers": [item(currency="XYZ")]}, "transfers.0.currency"),
        ({"transfers": [item(extra=1)]}, "transfers.0.extra"),
        ({"transfers": []}, "transfers"),
        ({"transfers": [item()] * 101}, "transfers"),
    ]
    for body, field in cases:
        response = client.post("/transfers/batch", headers=money_headers(), json=body)
        assert response.status_code == 422, body
        assert field in [p["field"] for p in error_of(response)["details"]]
    assert not route.called


def test_a_full_batch_with_long_descriptions_fits_the_body_limit(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    upstream.post(f"{REST}/rpc/transfer_funds_batch").respond(json=batch_reply(100))
    body = {"transfers": [item(description="d" * 280) for _ in range(100)]}
    response = client.post("/transfers/batch", headers=money_headers(), json=body)
    assert response.status_code == 201


def test_a_batch_needs_an_idempotency_key(client: FunctionClient) -> None:
    response = client.post("/transfers/batch", headers=auth(), json={"transfers": [item()]})
    assert response.status_code == 400
    assert error_of(response)["code"] == "idempotency_key_required"


def reversal_row(**overrides: Any) -> dict[str, Any]:
    return transfer_row(id=REVERSAL_ID, original_transfer_id=TRANSFER_ID, **overrides)


def test_a_refund_without_an_amount_refunds_what_is_left(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    route = upstream.post(f"{REST}/rpc/refund_transfer").respond(json=reversal_row())
    path = f"/transfers/{TRANSFER_ID}/refunds"
    missing = client.post(path, headers=money_headers("r-1"))
    assert missing.status_code == 400  # the body is required, `{}` at least
    assert not route.called
    response = client.post(path, headers=money_headers("r-1"), json={})
    assert response.status_code == 201
    ReversalPublic.model_validate(response.get_json())
    assert response.get_json()["original_transfer_id"] == TRANSFER_ID
    assert json.loads(route.calls.last.request.content) == {
        "p_transfer_id": TRANSFER_ID,
        "p_amount": None,
        "p_reason": None,
        "p_idempotency_key": "r-1",
    }


def test_a_partial_refund_sends_its_amount_and_reason(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    route = upstream.post(f"{REST}/rpc/refund_transfer").respond(json=reversal_row(replayed=True))
    body = {"amount": "2.00", "reason": "damaged"}
    response = client.post(f"/transfers/{TRANSFER_ID}/refunds", headers=money_headers(), json=body)
    assert response.status_code == 201
    assert response.headers["Idempotent-Replayed"] == "true"
    sent = json.loads(route.calls.last.request.content)
    assert (sent["p_amount"], sent["p_reason"]) == ("2.00", "damaged")


def test_a_refund_refuses_a_bad_amount_and_unknown_fields(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    route = upstream.post(f"{REST}/rpc/refund_transfer").respond(json=reversal_row())
    for body in ({"amount": "-1"}, {"amount": 2}, {"reason": ""}, {"everything": True}):
        response = client.post(
            f"/transfers/{TRANSFER_ID}/refunds", headers=money_headers(), json=body
        )
        assert response.status_code == 422, body
    assert not route.called


def test_a_refund_beyond_what_is_left_is_limit_exceeded(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    upstream.post(f"{REST}/rpc/refund_transfer").respond(
        422, json={"code": "BK007", "message": "amount is more", "details": "reversible_amount"}
    )
    response = client.post(f"/transfers/{TRANSFER_ID}/refunds", headers=money_headers(), json={})
    assert response.status_code == 422
    assert error_of(response)["code"] == "limit_exceeded"


def test_staff_reverse_through_the_admin_function(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    route = upstream.post(f"{REST}/rpc/admin_reverse_transfer").respond(json=reversal_row())
    path = f"/admin/transfers/{TRANSFER_ID}/reversals"
    response = client.post(path, headers=money_headers("s-1", admin_token()), json={"amount": "1"})
    assert response.status_code == 201
    assert response.get_json()["original_transfer_id"] == TRANSFER_ID
    assert json.loads(route.calls.last.request.content)["p_amount"] == "1"


def test_a_customer_token_cannot_reach_the_staff_reversal(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    route = upstream.post(f"{REST}/rpc/admin_reverse_transfer").respond(json=reversal_row())
    path = f"/admin/transfers/{TRANSFER_ID}/reversals"
    response = client.post(path, headers=money_headers(), json={})
    assert response.status_code == 403
    assert not route.called


def test_a_transfer_shows_its_reversals_and_a_reversal_its_original(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    original = transfer_row(
        replayed=None,
        reversals=[
            {"reversal_transfer_id": REVERSAL_ID, "amount": 100},
            {"reversal_transfer_id": TRANSFER_ID, "amount": 34},
        ],
        reverses=None,
    )
    reversal = transfer_row(id=REVERSAL_ID, reversals=[],
                            reverses={"original_transfer_id": TRANSFER_ID})  # fmt: skip
    upstream.get(f"{REST}/transfers").mock(
        side_effect=[
            respx.MockResponse(200, json=[original]),
            respx.MockResponse(200, json=[reversal]),
        ]
    )
    shown = client.get(f"/transfers/{TRANSFER_ID}", headers=auth()).get_json()
    TransferDetail.model_validate(shown)
    assert (shown["reversed_amount"], shown["original_transfer_id"]) == ("1.34", None)
    assert shown["reversal_ids"] == [REVERSAL_ID, TRANSFER_ID]
    back = client.get(f"/transfers/{REVERSAL_ID}", headers=auth()).get_json()
    assert (back["reversed_amount"], back["reversal_ids"]) == ("0.00", [])
    assert back["original_transfer_id"] == TRANSFER_ID
