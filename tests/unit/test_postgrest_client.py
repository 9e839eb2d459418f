"""The PostgREST client as the functions use it: postgrest-py on one pooled httpx client."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import respx

from functions.core import get_settings
from functions.core._postgrest import Postgrest, make_http_client
from tests.unit.conftest import ANON_KEY, REST, transfer_row


def test_concurrent_calls_each_carry_their_own_callers_token() -> None:
    """Two callers in flight at once on the shared pool: neither token rides on the other's call."""
    seen: dict[str, str] = {}
    both_in_flight = asyncio.Event()

    async def answer(request: httpx.Request) -> httpx.Response:
        caller = request.url.params["id"].removeprefix("eq.")
        seen[caller] = request.headers["authorization"]
        if len(seen) == 2:
            both_in_flight.set()
        await both_in_flight.wait()  # each answer waits until both requests were sent
        return httpx.Response(200, json=[{"id": caller, "token": request.headers["authorization"]}])

    async def scenario() -> list[list[dict[str, str]]]:
        settings = get_settings()
        http_client = make_http_client(settings)
        postgrest = Postgrest(settings, http_client)

        async def read_as(caller: str) -> list[dict[str, str]]:
            table = postgrest.table("accounts", token=f"token-of-{caller}")
            # A handler may await something between naming the table and selecting from
            # it; a client whose `.auth()` set shared headers would leak the token here.
            await asyncio.sleep(0)
            return await postgrest.rows(table.select("id").eq("id", caller))

        try:
            return await asyncio.wait_for(asyncio.gather(read_as("alice"), read_as("bob")), 5)
        finally:
            await http_client.aclose()

    with respx.mock(using="httpx", assert_all_mocked=True) as router:
        router.get(f"{REST}/accounts").mock(side_effect=answer)
        alice, bob = asyncio.run(scenario())
    assert seen == {"alice": "Bearer token-of-alice", "bob": "Bearer token-of-bob"}
    assert alice == [{"id": "alice", "token": "Bearer token-of-alice"}]
    assert bob == [{"id": "bob", "token": "Bearer token-of-bob"}]


def test_every_call_sends_the_anon_key_and_the_callers_token_never_another_key() -> None:
    async def scenario() -> None:
        settings = get_settings()
        http_client = make_http_client(settings)
        try:
            await Postgrest(settings, http_client).rpc("transfer_funds", {}, token="t1")
        finally:
            await http_client.aclose()

    with respx.mock(using="httpx", assert_all_mocked=True) as router:
        route = router.post(f"{REST}/rpc/transfer_funds").respond(json=transfer_row())
        asyncio.run(scenario())
    sent = route.calls.last.request.headers
    assert sent["apikey"] == ANON_KEY
    assert sent["authorization"] == "Bearer t1"


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_the_pooled_client_writes_out_every_limit(
    monkeypatch: pytest.MonkeyPatch, transport: str
) -> None:
    monkeypatch.setenv("POSTGREST_TRANSPORT", transport)
    monkeypatch.setenv("POSTGREST_TIMEOUT_SECONDS", "7")
    monkeypatch.setenv("POSTGREST_CONNECT_TIMEOUT_SECONDS", "1.5")
    monkeypatch.setenv("POSTGREST_POOL_TIMEOUT_SECONDS", "0.5")
    get_settings.cache_clear()

    async def scenario() -> httpx.AsyncClient:
        client = make_http_client(get_settings())
        await client.aclose()
        return client

    client = asyncio.run(scenario())
    assert client.timeout == httpx.Timeout(7, connect=1.5, pool=0.5)
    assert client.follow_redirects is False
    assert (type(client).__module__.split(".")[0] == "httpx_aiohttp") == (transport == "aiohttp")
