"""Staff paths of the ledger verification and the payment events: admin only, decided
before PostgREST is called, and answered from what the caller's token may read."""

from __future__ import annotations

import pytest
import respx

from tests.unit.conftest import (
    ACCOUNT_ID,
    REST,
    FunctionClient,
    admin_token,
    auth,
    error_of,
    hs256_token,
)

BREAK = {
    "account_id": ACCOUNT_ID,
    "entry_id": 7,
    "account_version": 3,
    "problem": "entry_altered",
    "detail": "entry (id=7, version 3) of account (id=...) does not match its hash",
}


def event_row(row_id: int, status: str = "unapplied") -> dict[str, object]:
    return {
        "id": row_id,
        "event_id": f"evt_{row_id}",
        "event_type": "payment_intent.succeeded",
        "livemode": False,
        "status": status,
        "reason": "account (id=...) is frozen",
        "payment_intent_id": f"pi_{row_id}",
        "account_id": ACCOUNT_ID,
        "amount_minor": 1250,
        "currency": "USD",
        "transfer_id": None,
        "received_at": "2026-12-03T17:00:00+00:00",
    }


def test_a_whole_ledger_verifies_ok(client: FunctionClient, upstream: respx.MockRouter) -> None:
    route = upstream.post(f"{REST}/rpc/verify_ledger").respond(json=[])
    token = admin_token()
    response = client.get("/admin/ledger/verify", headers=auth(token))
    assert response.status_code == 200
    assert response.get_json() == {"ok": True, "breaks": [], "truncated": False}
    sent = route.calls.last.request
    assert sent.headers["Authorization"] == f"Bearer {token}"
    assert sent.url.params["limit"] == "1001"


def test_each_break_is_listed_and_a_long_list_is_cut(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    upstream.post(f"{REST}/rpc/verify_ledger").respond(json=[BREAK])
    answer = client.get("/admin/ledger/verify", headers=auth(admin_token())).get_json()
    assert answer == {"ok": False, "breaks": [BREAK], "truncated": False}
    upstream.post(f"{REST}/rpc/verify_ledger").respond(json=[BREAK] * 1001)
    answer = client.get("/admin/ledger/verify", headers=auth(admin_token())).get_json()
    assert (answer["ok"], len(answer["breaks"]), answer["truncated"]) == (False, 1000, True)


@pytest.mark.parametrize("path", ["/admin/ledger/verify", "/admin/payments/events"])
def test_customers_cannot_verify_the_ledger_or_read_payment_events(
    client: FunctionClient, upstream: respx.MockRouter, path: str
) -> None:
    route = upstream.route(url__startswith=f"{REST}/rpc").respond(json=[])
    events = upstream.get(f"{REST}/payment_events").respond(json=[])
    response = client.get(path, headers=auth(hs256_token()))
    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"
    assert not route.called
    assert not events.called


def test_unapplied_payment_events_are_paged_oldest_first(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    route = upstream.get(f"{REST}/payment_events").respond(json=[event_row(5), event_row(6)])
    response = client.get("/admin/payments/events?limit=1", headers=auth(admin_token()))
    assert response.status_code == 200
    assert response.get_json() == {"data": [event_row(5)], "next_cursor": "5"}
    params = route.calls.last.request.url.params
    assert (params["status"], params["order"], params["limit"]) == ("eq.unapplied", "id.asc", "2")
    route.respond(json=[event_row(6)])
    page = client.get("/admin/payments/events?limit=1&cursor=5", headers=auth(admin_token()))
    assert page.get_json() == {"data": [event_row(6)], "next_cursor": None}
    assert route.calls.last.request.url.params["id"] == "gt.5"


@pytest.mark.parametrize(
    "query", ["status=lost", "limit=0", "limit=101", "cursor=abc", "cursor=1;drop"]
)
def test_a_bad_payment_events_query_is_422(
    client: FunctionClient, upstream: respx.MockRouter, query: str
) -> None:
    response = client.get(f"/admin/payments/events?{query}", headers=auth(admin_token()))
    assert response.status_code == 422
    assert error_of(response)["code"] == "validation_failed"
