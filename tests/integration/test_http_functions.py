"""The HTTP functions on the real local stack, called as a frontend calls them.

Everything goes through the local functions server (the `router` target) in
front of the real PostgREST and Postgres: tokens are minted by the stack,
verified by the functions and again by PostgREST, and row-level security
decides what each user sees.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from tests.conftest import StackHandle, TestUser

pytestmark = pytest.mark.integration

MakeUser = Callable[..., "TestUser"]


class Api:
    """A frontend's view of the functions: one user's token on one origin."""

    def __init__(self, client: httpx.Client, user: TestUser) -> None:
        self.client = client
        self.user = user

    def _headers(self, key: str | None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.user.token}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return headers

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(path, params=params, headers=self._headers(None))

    def post(self, path: str, body: Any = None, key: str | None = None) -> httpx.Response:
        return self.client.post(path, json=body, headers=self._headers(key))

    def patch(self, path: str, body: Any) -> httpx.Response:
        return self.client.patch(path, json=body, headers=self._headers(None))

    def open_account(self, currency: str = "USD", kind: str = "checking") -> dict[str, Any]:
        response = self.post("/accounts", {"currency": currency, "kind": kind})
        assert response.status_code == 201, response.text
        account: dict[str, Any] = response.json()
        return account

    def transfer(
        self, source: str, target: str, amount: str, key: str | None = None, **extra: Any
    ) -> httpx.Response:
        body = {"from_account_id": source, "to_account_id": target, "amount": amount}
        body.setdefault("currency", extra.pop("currency", "USD"))
        body.update(extra)
        return self.post("/transfers", body, key or new_key())

    def balance(self, account_id: str) -> str:
        response = self.get(f"/accounts/{account_id}")
        assert response.status_code == 200, response.text
        balance: str = response.json()["balance"]
        return balance


def new_key() -> str:
    return f"test-{uuid.uuid4()}"


@pytest.fixture
def http(stack: StackHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.functions_url, timeout=10) as client:
        yield client


@pytest.fixture
def as_user(http: httpx.Client, make_user: MakeUser) -> Callable[..., Api]:
    def make(role: str = "customer") -> Api:
        return Api(http, make_user(role=role))

    return make


@pytest.fixture
def admin(as_user: Callable[..., Api]) -> Api:
    return as_user("admin")


def deposit(admin: Api, account_id: str, amount: str, currency: str = "USD") -> httpx.Response:
    body = {"account_id": account_id, "amount": amount, "currency": currency, "reference": "till"}
    return admin.post("/admin/deposits", body, new_key())


def funded(admin: Api, api: Api, amount: str = "100.00") -> dict[str, Any]:
    account = api.open_account()
    response = deposit(admin, account["id"], amount)
    assert response.status_code == 201, response.text
    return account


def test_health_and_the_openapi_document_are_served(http: httpx.Client) -> None:
    assert http.get("/health").json() == {"status": "ok", "postgrest": "up"}
    assert http.get("/openapi.json").json()["openapi"] == "3.1.0"


def test_a_customer_opens_accounts_lists_them_and_renames_one(as_user: Callable[..., Api]) -> None:
    alice = as_user()
    checking = alice.open_account("USD", "checking")
    savings = alice.open_account("JPY", "savings")
    assert checking["balance"] == "0.00"
    assert savings["balance"] == "0"
    assert checking["status"] == "active"
    listed = alice.get("/accounts").json()["data"]
    assert [account["id"] for account in listed] == [checking["id"], savings["id"]]
    renamed = alice.patch(f"/accounts/{checking['id']}", {"nickname": "bills"})
    assert renamed.status_code == 200
    assert renamed.json()["nickname"] == "bills"
    assert alice.get(f"/accounts/{checking['id']}").json()["nickname"] == "bills"


def test_an_admin_deposit_credits_the_account(admin: Api, as_user: Callable[..., Api]) -> None:
    alice = as_user()
    account = alice.open_account()
    response = deposit(admin, account["id"], "250.50")
    assert response.status_code == 201, response.text
    assert response.json()["amount"] == "250.50"
    assert response.json()["to_account_id"] == account["id"]
    assert alice.balance(account["id"]) == "250.50"


def test_a_transfer_moves_money_and_both_parties_can_read_it(
    admin: Api, as_user: Callable[..., Api]
) -> None:
    alice, bob = as_user(), as_user()
    source = funded(admin, alice)
    target = bob.open_account()
    response = alice.transfer(source["id"], target["id"], "12.34", description="lunch")
    assert response.status_code == 201, response.text
    transfer = response.json()
    assert transfer["amount"] == "12.34"
    assert transfer["description"] == "lunch"
    assert alice.balance(source["id"]) == "87.66"
    assert bob.balance(target["id"]) == "12.34"
    for party in (alice, bob):
        shown = party.get(f"/transfers/{transfer['id']}").json()
        # The transfer as it was posted, and its reversals (none yet).
        assert {name: shown[name] for name in transfer} == transfer
        assert (shown["reversed_amount"], shown["reversal_ids"]) == ("0.00", [])
        assert shown["original_transfer_id"] is None
    assert as_user().get(f"/transfers/{transfer['id']}").status_code == 404


def test_transactions_page_to_the_end_newest_first(admin: Api, as_user: Callable[..., Api]) -> None:
    alice = as_user()
    source = funded(admin, alice)
    target = alice.open_account()
    for cents in range(1, 8):
        assert alice.transfer(source["id"], target["id"], f"0.0{cents}").status_code == 201
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor is not None:
            params["cursor"] = cursor
        response = alice.get(f"/accounts/{source['id']}/transactions", **params)
        assert response.status_code == 200, response.text
        page = response.json()
        pages += 1
        seen.extend(page["data"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    ids = [entry["id"] for entry in seen]
    assert ids == sorted(ids, reverse=True)
    assert len(ids) == len(set(ids)) == 8  # the deposit and seven transfers out
    assert [entry["amount"] for entry in seen[:7]] == [f"-0.0{c}" for c in range(7, 0, -1)]
    assert seen[-1]["amount"] == "100.00"
    assert seen[0]["balance_after"] == alice.balance(source["id"])


def test_a_statement_is_csv_from_opening_to_closing_balance(
    admin: Api, as_user: Callable[..., Api]
) -> None:
    alice = as_user()
    source = funded(admin, alice, "50.00")
    target = alice.open_account()
    assert alice.transfer(source["id"], target["id"], "20.00").status_code == 201
    month = datetime.now(UTC).strftime("%Y-%m")
    response = alice.get(f"/accounts/{source['id']}/statement", month=month)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert [row[0] for row in rows] == [
        "row_type", "opening_balance", "entry", "entry", "closing_balance",
    ]  # fmt: skip
    assert rows[1][7] == "0.00"
    assert [row[6] for row in rows[2:4]] == ["50.00", "-20.00"]
    assert rows[4][7] == "30.00" == alice.balance(source["id"])


def test_a_replay_with_the_same_key_returns_the_first_answer_and_moves_money_once(
    admin: Api, as_user: Callable[..., Api]
) -> None:
    alice = as_user()
    source = funded(admin, alice)
    target = alice.open_account()
    key = new_key()
    first = alice.transfer(source["id"], target["id"], "10.00", key)
    again = alice.transfer(source["id"], target["id"], "10.00", key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert alice.balance(source["id"]) == "90.00"


def test_the_same_key_with_another_request_is_a_conflict(
    admin: Api, as_user: Callable[..., Api]
) -> None:
    alice = as_user()
    source = funded(admin, alice)
    target = alice.open_account()
    key = new_key()
    assert alice.transfer(source["id"], target["id"], "10.00", key).status_code == 201
    conflict = alice.transfer(source["id"], target["id"], "11.00", key)
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "idempotency_key_reused"
    assert alice.balance(source["id"]) == "90.00"


def test_another_users_account_is_not_found(admin: Api, as_user: Callable[..., Api]) -> None:
    alice, mallory = as_user(), as_user()
    account = funded(admin, alice)
    for path in ("", "/transactions"):
        response = mallory.get(f"/accounts/{account['id']}{path}")
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"
    assert mallory.patch(f"/accounts/{account['id']}", {"nickname": "mine"}).status_code == 404
    stolen = mallory.transfer(account["id"], mallory.open_account()["id"], "1.00")
    assert stolen.status_code == 404
    assert alice.balance(account["id"]) == "100.00"


def test_a_frozen_account_neither_sends_nor_receives_until_unfrozen(
    admin: Api, as_user: Callable[..., Api]
) -> None:
    alice = as_user()
    source = funded(admin, alice)
    target = alice.open_account()
    frozen = admin.post(f"/admin/accounts/{source['id']}/freeze")
    assert frozen.status_code == 200, frozen.text
    assert frozen.json()["status"] == "frozen"
    refused = alice.transfer(source["id"], target["id"], "1.00")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "account_inactive"
    assert alice.transfer(target["id"], source["id"], "0.00").status_code == 422
    assert admin.post(f"/admin/accounts/{source['id']}/unfreeze").json()["status"] == "active"
    assert alice.transfer(source["id"], target["id"], "1.00").status_code == 201


def test_a_transfer_beyond_the_balance_is_insufficient_funds(
    admin: Api, as_user: Callable[..., Api]
) -> None:
    alice = as_user()
    source = funded(admin, alice, "5.00")
    target = alice.open_account()
    key = new_key()
    refused = alice.transfer(source["id"], target["id"], "5.01", key)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "insufficient_funds"
    # The refusal is stored under the key: a retry never turns it into a transfer.
    assert deposit(admin, source["id"], "10.00").status_code == 201
    again = alice.transfer(source["id"], target["id"], "5.01", key)
    assert again.status_code == 422
    first_error, again_error = refused.json()["error"], again.json()["error"]
    assert again_error.pop("request_id") != first_error.pop("request_id")
    assert again_error == first_error
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in refused.headers
    assert alice.balance(source["id"]) == "15.00"


def test_an_amount_with_too_many_decimals_never_reaches_the_ledger(
    admin: Api, as_user: Callable[..., Api]
) -> None:
    alice = as_user()
    source = funded(admin, alice)
    target = alice.open_account()
    response = alice.transfer(source["id"], target["id"], "1.001")
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "amount"


def test_a_customer_calling_an_admin_path_is_forbidden(
    admin: Api, as_user: Callable[..., Api], make_user: MakeUser, http: httpx.Client
) -> None:
    alice = as_user()
    account = alice.open_account()
    assert deposit(alice, account["id"], "1000.00").status_code == 403
    assert alice.post(f"/admin/accounts/{account['id']}/freeze").status_code == 403
    # A role in user_metadata is the user's own claim about themselves: still forbidden.
    claims_admin = Api(http, make_user(user_metadata={"role": "admin"}))
    assert deposit(claims_admin, account["id"], "1000.00").status_code == 403
    assert alice.balance(account["id"]) == "0.00"


def test_a_request_without_a_valid_token_is_unauthorized(http: httpx.Client) -> None:
    for headers in ({}, {"Authorization": "Bearer not.a.token"}):
        response = http.get("/accounts", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_token_signed_with_the_stacks_es256_key_is_accepted_by_the_functions(
    http: httpx.Client, make_user: MakeUser
) -> None:
    user = make_user(algorithm="ES256")
    response = http.get("/accounts", headers={"Authorization": f"Bearer {user.token}"})
    assert response.status_code == 200, response.text
