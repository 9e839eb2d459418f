"""The payments webhook: Stripe's signature checked by the stripe package before anything
else, then one RPC as service_role. Payloads are signed with the stripe library's own
helper, `WebhookSignature.generate_signature_header`."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import respx
from stripe import WebhookSignature

from functions.core import ConfigError, load_settings, reset_runtime
from tests.unit.conftest import (
    ACCOUNT_ID,
    ANON_KEY,
    REST,
    SERVICE_KEY,
    TRANSFER_ID,
    FunctionClient,
    error_of,
)

SECRET = "whsec_unit_test_current_secret_0123456789"
OLD_SECRET = "whsec_unit_test_previous_secret_0123456789"
PATH = "/webhooks/payments"
RPC = f"{REST}/rpc/apply_payment_event"


@pytest.fixture(autouse=True)
def webhook_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRETS", SECRET)
    reset_runtime()


def payment_event(**object_overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": "pi_123",
        "object": "payment_intent",
        "amount": 1250,
        "amount_received": 1250,
        "currency": "usd",
        "metadata": {"account_id": ACCOUNT_ID},
    }
    item.update(object_overrides)
    return {
        "id": "evt_1",
        "object": "event",
        "type": "payment_intent.succeeded",
        "livemode": False,
        "data": {"object": item},
    }


def refund_event(**object_overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": "ch_1",
        "object": "charge",
        "payment_intent": "pi_123",
        "amount_refunded": 500,
        "currency": "usd",
    }
    item.update(object_overrides)
    return {
        "id": "evt_2",
        "object": "event",
        "type": "charge.refunded",
        "livemode": False,
        "data": {"object": item},
    }


def signed(event: dict[str, Any], secret: str = SECRET, timestamp: int | None = None) -> Any:
    payload = json.dumps(event)
    header = WebhookSignature.generate_signature_header(payload, secret, timestamp=timestamp)
    return {"data": payload, "headers": {"Stripe-Signature": header}}


def recorded(status: str = "applied", **overrides: Any) -> dict[str, Any]:
    row = {
        "id": 1,
        "event_id": "evt_1",
        "event_type": "payment_intent.succeeded",
        "status": status,
        "reason": None,
        "transfer_id": TRANSFER_ID if status == "applied" else None,
        "replayed": False,
    }
    row.update(overrides)
    return row


def test_a_signed_payment_goes_to_the_ledger_as_service_role(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    route = upstream.post(RPC).respond(json=recorded())
    response = client.post(PATH, **signed(payment_event()))
    assert response.status_code == 200
    assert response.get_json() == {
        "event_id": "evt_1",
        "event_type": "payment_intent.succeeded",
        "status": "applied",
        "reason": None,
        "transfer_id": TRANSFER_ID,
        "replayed": False,
    }
    sent = route.calls.last.request
    assert sent.headers["Authorization"] == f"Bearer {SERVICE_KEY}"
    assert sent.headers["apikey"] == ANON_KEY
    assert json.loads(sent.content) == {
        "p_event_id": "evt_1",
        "p_event_type": "payment_intent.succeeded",
        "p_livemode": False,
        "p_expected_livemode": False,
        "p_payment_intent_id": "pi_123",
        "p_account_id": ACCOUNT_ID,
        "p_amount": 1250,
        "p_currency": "usd",
    }


def test_a_refund_sends_the_cumulative_amount_refunded_of_its_payment_intent(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    route = upstream.post(RPC).respond(json=recorded(event_type="charge.refunded"))
    # An endpoint on an API version that expands payment_intent gets an object.
    event = refund_event(payment_intent={"id": "pi_123", "object": "payment_intent"})
    assert client.post(PATH, **signed(event)).status_code == 200
    args = json.loads(route.calls.last.request.content)
    assert (args["p_payment_intent_id"], args["p_amount"], args["p_account_id"]) == (
        "pi_123",
        500,
        None,
    )


def test_fields_of_the_wrong_type_reach_the_ledger_as_missing(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    route = upstream.post(RPC).respond(json=recorded("unapplied", reason="no amount"))
    event = payment_event(amount_received=True, metadata="not an object", currency=7)
    assert client.post(PATH, **signed(event)).get_json()["status"] == "unapplied"
    args = json.loads(route.calls.last.request.content)
    assert (args["p_amount"], args["p_account_id"], args["p_currency"]) == (None, None, None)


def test_a_secret_being_rotated_out_still_verifies(
    client: FunctionClient, upstream: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRETS", f"{SECRET}, {OLD_SECRET}")
    reset_runtime()
    upstream.post(RPC).respond(json=recorded())
    assert client.post(PATH, **signed(payment_event(), OLD_SECRET)).status_code == 200
    assert client.post(PATH, **signed(payment_event(), SECRET)).status_code == 200


@pytest.mark.parametrize(
    "request_kwargs",
    [
        pytest.param(lambda: signed(payment_event(), "whsec_someone_else"), id="wrong secret"),
        pytest.param(lambda: signed(payment_event(), timestamp=int(time.time()) - 301), id="stale"),
        pytest.param(lambda: {"data": json.dumps(payment_event())}, id="no header"),
        pytest.param(
            lambda: {**signed(payment_event()), "data": json.dumps(payment_event(amount=9))},
            id="body changed after signing",
        ),
        pytest.param(
            lambda: {"data": "{}", "headers": {"Stripe-Signature": "t=abc,v1=00"}},
            id="malformed header",
        ),
        pytest.param(
            lambda: {"data": b"\xff\xfe", "headers": {"Stripe-Signature": "t=1,v1=00"}},
            id="not utf-8",
        ),
    ],
)
def test_an_unverified_delivery_is_400_and_reaches_nothing(
    client: FunctionClient, upstream: respx.MockRouter, request_kwargs: Any
) -> None:
    route = upstream.post(RPC).respond(json=recorded())
    response = client.post(PATH, **request_kwargs())
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_signature"
    assert not route.called


def test_a_signature_within_the_tolerance_verifies(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    upstream.post(RPC).respond(json=recorded())
    stamp = int(time.time()) - 250
    assert client.post(PATH, **signed(payment_event(), timestamp=stamp)).status_code == 200


def test_a_signed_body_that_is_not_an_event_is_refused_without_a_call(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    route = upstream.post(RPC).respond(json=recorded())
    response = client.post(PATH, **signed({"id": "evt_1", "type": "x"}))  # type: ignore[arg-type]
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_json"
    assert not route.called


def test_without_a_secret_the_webhook_fails_closed_with_503(
    client: FunctionClient, upstream: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRETS")
    reset_runtime()
    route = upstream.post(RPC).respond(json=recorded())
    response = client.post(PATH, **signed(payment_event()))
    assert response.status_code == 503
    assert error_of(response)["code"] == "upstream_unavailable"
    assert int(response.headers["Retry-After"]) >= 60
    assert not route.called


def test_a_live_deployment_expects_live_events(
    client: FunctionClient, upstream: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "ENVIRONMENT": "production",
        "SUPABASE_URL": "https://project.supabase.test",
        "SUPABASE_JWT_SECRET": "a-production-jwt-secret-of-at-least-32-chars",
    }.items():
        monkeypatch.setenv(name, value)
    reset_runtime()
    live = "https://project.supabase.test/rest/v1/rpc/apply_payment_event"
    route = upstream.post(live).respond(json=recorded("ignored"))
    assert client.post(PATH, **signed(payment_event())).status_code == 200
    assert json.loads(route.calls.last.request.content)["p_expected_livemode"] is True


def test_a_large_event_is_read_beyond_the_request_body_limit(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    upstream.post(RPC).respond(json=recorded())
    event = payment_event(description="x" * 40_000)
    assert client.post(PATH, **signed(event)).status_code == 200
    too_large = payment_event(description="x" * 300_000)
    assert client.post(PATH, **signed(too_large)).status_code == 413


@pytest.mark.parametrize(
    ("secrets", "service_key", "problem"),
    [
        ("whsec_<your-secret>", SERVICE_KEY, "STRIPE_WEBHOOK_SECRETS"),
        ("sk_live_not_a_webhook_secret", SERVICE_KEY, "STRIPE_WEBHOOK_SECRETS"),
        (SECRET, "", "SUPABASE_SERVICE_ROLE_KEY"),
    ],
)
def test_a_deployment_with_a_bad_webhook_secret_or_no_service_key_does_not_start(
    monkeypatch: pytest.MonkeyPatch, secrets: str, service_key: str, problem: str
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SUPABASE_URL", "https://project.supabase.test")
    monkeypatch.setenv("SUPABASE_JWT_SECRET", "a-production-jwt-secret-of-at-least-32-chars")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRETS", secrets)
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", service_key)
    with pytest.raises(ConfigError, match=problem):
        load_settings()


def test_a_deployment_without_the_webhook_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SUPABASE_URL", "https://project.supabase.test")
    monkeypatch.setenv("SUPABASE_JWT_SECRET", "a-production-jwt-secret-of-at-least-32-chars")
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRETS")
    monkeypatch.delenv("SUPABASE_SERVICE_ROLE_KEY")
    assert load_settings().webhook_secrets == ()
