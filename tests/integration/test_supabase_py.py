"""supabase-py plays a frontend against the stack's gateway, as it would against a hosted project.

The client is made the way a Python frontend makes it: `create_client(SUPABASE_URL,
anon key)` with the signed-in user's access token in the Authorization header. It
reads tables under row-level security, moves money with the `transfer_funds` RPC,
and meets the ledger's refusals as postgrest's `APIError` with the SQLSTATE the SQL
contract (docs/sql-contract.md) gives each refusal.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest
from postgrest.exceptions import APIError

from supabase import Client, ClientOptions, create_client
from tests import conftest
from tests.conftest import StackHandle

pytestmark = pytest.mark.integration


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """The HTTP client supabase-py runs on, with its timeout written out: without one,
    supabase-py passes postgrest its default through a parameter postgrest deprecates."""
    with httpx.Client(timeout=httpx.Timeout(10.0)) as client:
        yield client


def _client(stack: StackHandle, http: httpx.Client, token: str | None) -> Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    options = ClientOptions(headers=headers, httpx_client=http)
    return create_client(stack.api_url, stack.anon_key, options=options)


@pytest.fixture
def frontend(
    stack: StackHandle, http: httpx.Client
) -> Callable[[conftest.TestUser | None], Client]:
    """A supabase-py client as a signed-in user's app holds it (or signed out, for None)."""

    def make(user: conftest.TestUser | None) -> Client:
        return _client(stack, http, user.token if user else None)

    return make


def _open_account(client: Client, currency: str = "USD") -> str:
    account = client.rpc("open_account", {"p_currency": currency, "p_kind": "checking"}).execute()
    return str(account.data["id"])


def _deposit(pg: psycopg.Connection[Any], account_id: str, amount: str, currency: str) -> None:
    """Cash in at the counter, as staff do from the dashboard."""
    pg.execute(
        "select public.admin_deposit(%s, %s::numeric, %s, 'supabase-py test', %s)",
        [account_id, amount, currency, str(uuid.uuid4())],
    )


def _transfer(client: Client, source: str, target: str, amount: str, **extra: Any) -> Any:
    params = {
        "p_from_account_id": source,
        "p_to_account_id": target,
        "p_amount": amount,
        "p_currency": "USD",
        "p_idempotency_key": extra.pop("key", str(uuid.uuid4())),
        **extra,
    }
    return client.rpc("transfer_funds", params).execute()


# Reads under RLS ------------------------------------------------------------------------
def test_a_user_reads_only_their_own_accounts(
    frontend: Callable[[conftest.TestUser | None], Client],
    make_user: Callable[..., conftest.TestUser],
) -> None:
    alice, bob = make_user(), make_user()
    alices = {_open_account(frontend(alice)), _open_account(frontend(alice), "EUR")}
    bobs = _open_account(frontend(bob))

    rows = frontend(alice).table("accounts").select("id, owner_id, currency").execute().data
    assert {row["id"] for row in rows} == alices
    assert {row["owner_id"] for row in rows} == {alice.id}
    assert frontend(alice).table("accounts").select("id").eq("id", bobs).execute().data == []


def test_a_signed_out_client_may_not_read_accounts_but_reads_the_currencies(
    frontend: Callable[[conftest.TestUser | None], Client],
    make_user: Callable[..., conftest.TestUser],
) -> None:
    _open_account(frontend(make_user()))
    anonymous = frontend(None)
    with pytest.raises(APIError) as refused:
        anonymous.table("accounts").select("id").execute()
    assert refused.value.code == "42501"  # the anon role has no grant on accounts at all
    currencies = anonymous.table("currencies").select("code, exponent").execute().data
    assert {"code": "JPY", "exponent": 0} in currencies


def test_a_user_reads_the_entries_of_their_transfer_and_nobody_elses(
    frontend: Callable[[conftest.TestUser | None], Client],
    make_user: Callable[..., conftest.TestUser],
    pg: psycopg.Connection[Any],
) -> None:
    alice, bob, carol = make_user(), make_user(), make_user()
    source, target = _open_account(frontend(alice)), _open_account(frontend(bob))
    _deposit(pg, source, "50.00", "USD")
    transfer = _transfer(frontend(alice), source, target, "12.34").data

    mine = frontend(alice).table("entries").select("amount, account_id")
    assert mine.eq("transfer_id", transfer["id"]).execute().data == [
        {"amount": -1234, "account_id": source}
    ]
    theirs = frontend(carol).table("entries").select("id").eq("transfer_id", transfer["id"])
    assert theirs.execute().data == []


def test_a_user_cannot_write_a_balance_or_an_entry_through_the_table_api(
    frontend: Callable[[conftest.TestUser | None], Client],
    make_user: Callable[..., conftest.TestUser],
) -> None:
    alice = make_user()
    client = frontend(alice)
    account = _open_account(client)
    with pytest.raises(APIError) as update:
        client.table("accounts").update({"balance": 1_000_000}).eq("id", account).execute()
    assert update.value.code == "42501"
    with pytest.raises(APIError) as insert:
        client.table("entries").insert({"account_id": account, "amount": 100}).execute()
    assert insert.value.code == "42501"
    row = client.table("accounts").select("balance").eq("id", account).single().execute()
    assert row.data == {"balance": 0}


# transfer_funds ---------------------------------------------------------------------------
def test_transfer_funds_moves_money_and_a_replay_returns_the_same_transfer(
    frontend: Callable[[conftest.TestUser | None], Client],
    make_user: Callable[..., conftest.TestUser],
    pg: psycopg.Connection[Any],
) -> None:
    alice, bob = make_user(), make_user()
    client = frontend(alice)
    source, target = _open_account(client), _open_account(frontend(bob))
    _deposit(pg, source, "100.00", "USD")

    first = _transfer(client, source, target, "25.50", key="rent-2026-12", p_description="rent")
    assert first.data["amount"] == 2550
    assert first.data["status"] == "posted"
    assert first.data["replayed"] is False
    again = _transfer(client, source, target, "25.50", key="rent-2026-12", p_description="rent")
    assert again.data == {**first.data, "replayed": True}

    balance = client.table("accounts").select("balance").eq("id", source).single().execute()
    assert balance.data == {"balance": 10_000 - 2550}


@pytest.mark.parametrize(
    ("case", "code", "needle"),
    [
        ("insufficient funds", "BK001", "10.00 USD available, 10.01 USD requested"),
        ("currency mismatch", "BK002", "holds EUR"),
        ("same account", "BK003", "cannot transfer to itself"),
        ("someone else's account", "BK005", "not found"),
        ("frozen target", "BK004", "frozen"),
        ("too many decimals", "BK009", "has more decimals than USD allows (at most 2)"),
    ],
)
def test_transfer_funds_refusals_arrive_as_api_errors_with_the_ledgers_code(
    frontend: Callable[[conftest.TestUser | None], Client],
    make_user: Callable[..., conftest.TestUser],
    pg: psycopg.Connection[Any],
    case: str,
    code: str,
    needle: str,
) -> None:
    alice, bob = make_user(), make_user()
    client = frontend(alice)
    source, target = _open_account(client), _open_account(frontend(bob))
    _deposit(pg, source, "10.00", "USD")
    args: dict[str, Any] = {"source": source, "target": target, "amount": "1.00"}
    if case == "insufficient funds":
        args["amount"] = "10.01"
    elif case == "currency mismatch":
        args["target"] = _open_account(frontend(bob), "EUR")
    elif case == "same account":
        args["target"] = source
    elif case == "someone else's account":
        args["source"], args["target"] = target, source
    elif case == "frozen target":
        pg.execute("select public.admin_freeze_account(%s)", [target])
    elif case == "too many decimals":
        args["amount"] = "1.001"

    with pytest.raises(APIError) as refused:
        _transfer(client, args["source"], args["target"], args["amount"])
    assert refused.value.code == code, refused.value
    assert needle in (refused.value.message or ""), refused.value
    row = client.table("accounts").select("balance").eq("id", source).single().execute()
    assert row.data == {"balance": 1000}


def test_a_reused_idempotency_key_with_another_request_is_refused(
    frontend: Callable[[conftest.TestUser | None], Client],
    make_user: Callable[..., conftest.TestUser],
    pg: psycopg.Connection[Any],
) -> None:
    alice, bob = make_user(), make_user()
    client = frontend(alice)
    source, target = _open_account(client), _open_account(frontend(bob))
    _deposit(pg, source, "10.00", "USD")
    _transfer(client, source, target, "1.00", key="once")
    with pytest.raises(APIError) as refused:
        _transfer(client, source, target, "2.00", key="once")
    assert refused.value.code == "BK006"


def test_a_token_from_another_project_is_refused_with_an_api_error(
    stack: StackHandle, http: httpx.Client, make_user: Callable[..., conftest.TestUser]
) -> None:
    import jwt

    user = make_user()
    claims = jwt.decode(user.token, options={"verify_signature": False})
    forged = jwt.encode(claims, "a-different-projects-secret-of-32-characters", algorithm="HS256")
    client = _client(stack, http, forged)
    with pytest.raises(APIError) as refused:
        client.table("accounts").select("id").execute()
    assert refused.value.code == "PGRST301"
