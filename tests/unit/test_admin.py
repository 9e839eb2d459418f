"""The admin function: staff only, decided by app_metadata.role before PostgREST is called."""

from __future__ import annotations

import json

import pytest
import respx

from tests.unit.conftest import (
    ACCOUNT_ID,
    REST,
    AppFactory,
    FunctionClient,
    account_row,
    admin_token,
    auth,
    error_of,
    hs256_token,
    money_headers,
    transfer_row,
)

CASH = {"account_id": ACCOUNT_ID, "amount": "100.00", "currency": "USD", "reference": "teller 7"}


@pytest.mark.parametrize(
    ("path", "rpc"),
    [("/admin/deposits", "admin_deposit"), ("/admin/withdrawals", "admin_withdraw")],
)
def test_staff_move_cash_with_an_idempotency_key(
    client: FunctionClient, upstream: respx.MockRouter, path: str, rpc: str
) -> None:
    route = upstream.post(f"{REST}/rpc/{rpc}").respond(json=transfer_row(amount=10000))
    response = client.post(path, headers=money_headers("dep-1", admin_token()), json=CASH)
    assert response.status_code == 201
    assert response.get_json()["amount"] == "100.00"
    assert json.loads(route.calls.last.request.content) == {
        "p_account_id": ACCOUNT_ID,
        "p_amount": "100.00",
        "p_currency": "USD",
        "p_reference": "teller 7",
        "p_idempotency_key": "dep-1",
    }


def test_a_replayed_deposit_is_marked(client: FunctionClient, upstream: respx.MockRouter) -> None:
    upstream.post(f"{REST}/rpc/admin_deposit").respond(json=transfer_row(replayed=True))
    response = client.post("/admin/deposits", headers=money_headers("k", admin_token()), json=CASH)
    assert response.headers["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize(
    ("action", "rpc", "status"),
    [
        ("freeze", "admin_freeze_account", "frozen"),
        ("unfreeze", "admin_unfreeze_account", "active"),
    ],
)
def test_staff_freeze_and_unfreeze_accounts(
    app: AppFactory, upstream: respx.MockRouter, action: str, rpc: str, status: str
) -> None:
    route = upstream.post(f"{REST}/rpc/{rpc}").respond(json=account_row(status=status))
    response = app("admin").post(
        f"/admin/accounts/{ACCOUNT_ID}/{action}", headers=auth(admin_token())
    )
    assert response.status_code == 200
    assert response.get_json()["status"] == status
    assert json.loads(route.calls.last.request.content) == {"p_account_id": ACCOUNT_ID}


@pytest.mark.parametrize(
    "path",
    ["/admin/deposits", "/admin/withdrawals", f"/admin/accounts/{ACCOUNT_ID}/freeze"],
)
def test_a_customer_calling_an_admin_path_is_forbidden_before_postgrest(
    client: FunctionClient, upstream: respx.MockRouter, path: str
) -> None:
    response = client.post(path, headers=money_headers(), json=CASH)
    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"
    assert all("/rpc/" not in str(call.request.url) for call in upstream.calls)


def test_user_metadata_saying_admin_does_not_make_an_admin(
    client: FunctionClient, upstream: respx.MockRouter
) -> None:
    token = hs256_token(user_metadata={"role": "admin"}, role="admin")
    response = client.post("/admin/deposits", headers=money_headers("k", token), json=CASH)
    assert response.status_code == 403


def test_an_admin_path_without_a_token_is_unauthorized_not_forbidden(
    client: FunctionClient,
) -> None:
    response = client.post("/admin/deposits", json=CASH)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_deposit_without_a_reference_names_the_field(client: FunctionClient) -> None:
    body = {key: value for key, value in CASH.items() if key != "reference"}
    response = client.post("/admin/deposits", headers=money_headers("k", admin_token()), json=body)
    assert response.status_code == 422
    assert error_of(response)["details"] == [{"field": "reference", "message": "Field required"}]
