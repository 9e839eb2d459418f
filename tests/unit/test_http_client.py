"""The PostgREST HTTP client against a real in-process HTTP server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from functions._core._http_client import (
    HttpClient,
    UpstreamTimeoutError,
    UpstreamTransportError,
)


class Upstream:
    """A tiny HTTP/1.1 server; `respond` turns each request head into raw response bytes."""

    def __init__(self, respond: Callable[[bytes, int], bytes | None]) -> None:
        self.respond = respond
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> Upstream:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length) if length else b""
                self.requests.append(head + body)
                answer = self.respond(head + body, len(self.requests))
                if answer is None:
                    await asyncio.sleep(10)
                    return
                writer.write(answer)
                await writer.drain()
                if b"connection: close" in answer.lower():
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def ok(body: bytes = b'{"ok":true}', extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n%s\r\n%s" % (len(body), extra, body)


def client_for(url: str, **overrides: float) -> HttpClient:
    options: dict[str, float] = {"max_connections": 4, "connect_timeout_seconds": 1.0}
    options.update(overrides)
    return HttpClient(url + "/rest/v1", **options)  # type: ignore[arg-type]


async def _get(client: HttpClient, target: str = "/accounts", **kw: object) -> object:
    options: dict[str, object] = {"headers": {"apikey": "k"}, "timeout_seconds": 2.0,
                                  "repeatable": True}  # fmt: skip
    options.update(kw)
    return await client.request("GET", target, **options)  # type: ignore[arg-type]


def test_requests_reuse_one_keep_alive_connection() -> None:
    async def scenario() -> None:
        async with Upstream(lambda head, n: ok()) as upstream:
            client = client_for(upstream.url)
            first = await _get(client)
            second = await _get(client)
            await client.aclose()
        assert first.status == 200  # type: ignore[attr-defined]
        assert second.body == b'{"ok":true}'  # type: ignore[attr-defined]
        assert upstream.connections == 1

    asyncio.run(scenario())


def test_the_request_carries_base_path_host_headers_and_body() -> None:
    async def scenario() -> None:
        async with Upstream(lambda head, n: ok()) as upstream:
            client = client_for(upstream.url)
            await client.request("POST", "/rpc/x?a=1", headers={"authorization": "Bearer t"},
                                 body=b'{"p":1}', timeout_seconds=2, repeatable=False)  # fmt: skip
            await client.aclose()
        sent = upstream.requests[0]
        assert sent.startswith(b"POST /rest/v1/rpc/x?a=1 HTTP/1.1\r\n")
        assert b"\r\nhost: 127.0.0.1:" in sent
        assert b"\r\nauthorization: Bearer t\r\n" in sent
        assert b"\r\ncontent-length: 7\r\n" in sent
        assert sent.endswith(b'\r\n\r\n{"p":1}')

    asyncio.run(scenario())


def test_a_chunked_answer_is_reassembled_and_headers_are_lower_cased() -> None:
    chunked = (b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nContent-Range: 0-1/*\r\n\r\n"
               b"4\r\n[1,2\r\n1\r\n]\r\n0\r\n\r\n")  # fmt: skip

    async def scenario() -> None:
        async with Upstream(lambda head, n: chunked) as upstream:
            client = client_for(upstream.url)
            response = await _get(client)
            await client.aclose()
        assert response.status == 201  # type: ignore[attr-defined]
        assert response.body == b"[1,2]"  # type: ignore[attr-defined]
        assert response.headers["content-range"] == "0-1/*"  # type: ignore[attr-defined]

    asyncio.run(scenario())


def test_connection_close_from_the_upstream_is_honoured() -> None:
    async def scenario() -> None:
        async with Upstream(lambda head, n: ok(extra=b"connection: close\r\n")) as upstream:
            client = client_for(upstream.url)
            await _get(client)
            await _get(client)
            await client.aclose()
        assert upstream.connections == 2

    asyncio.run(scenario())


class _SilentClose(Upstream):
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        head = await reader.readuntil(b"\r\n\r\n")
        self.requests.append(head)
        writer.write(ok())
        await writer.drain()
        writer.close()  # closes without saying so: the client's idle connection is stale


def test_a_repeatable_request_is_retried_once_on_a_stale_connection() -> None:
    async def scenario() -> None:
        async with _SilentClose(lambda head, n: ok()) as upstream:
            client = client_for(upstream.url)
            await _get(client)
            await asyncio.sleep(0.05)
            response = await _get(client)
            await client.aclose()
        assert response.status == 200  # type: ignore[attr-defined]
        assert upstream.connections == 2

    asyncio.run(scenario())


def test_a_request_that_is_not_repeatable_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> None:
        async with _SilentClose(lambda head, n: ok()) as upstream:
            client = client_for(upstream.url)
            await _get(client)
            await asyncio.sleep(0.05)
            # Pretend the stale connection still looks open, as it can in a race.
            monkeypatch.setattr(asyncio.StreamReader, "at_eof", lambda self: False)
            with pytest.raises(UpstreamTransportError, match="lost"):
                await _get(client, repeatable=False)
            await client.aclose()
        assert upstream.connections == 1

    asyncio.run(scenario())


def test_an_unreachable_upstream_is_a_transport_error() -> None:
    async def scenario() -> None:
        client = client_for("http://127.0.0.1:9")
        with pytest.raises(UpstreamTransportError, match="cannot connect"):
            await _get(client)

    asyncio.run(scenario())


def test_a_silent_upstream_times_out() -> None:
    async def scenario() -> None:
        async with Upstream(lambda head, n: None) as upstream:
            client = client_for(upstream.url)
            with pytest.raises(UpstreamTimeoutError):
                await _get(client, timeout_seconds=0.2)
            await client.aclose()

    asyncio.run(scenario())


def test_an_oversized_answer_is_refused() -> None:
    async def scenario() -> None:
        async with Upstream(lambda head, n: ok(b"x" * 5000)) as upstream:
            client = HttpClient(upstream.url, max_connections=1, connect_timeout_seconds=1,
                                max_response_bytes=1000)  # fmt: skip
            with pytest.raises(UpstreamTransportError):
                await _get(client)
            await client.aclose()

    asyncio.run(scenario())


def test_the_pool_never_opens_more_than_its_connections() -> None:
    async def scenario() -> None:
        async with Upstream(lambda head, n: ok()) as upstream:
            client = client_for(upstream.url, max_connections=2)
            await asyncio.gather(*(_get(client) for _ in range(10)))
            await client.aclose()
        assert upstream.connections <= 2
        assert len(upstream.requests) == 10

    asyncio.run(scenario())


@pytest.mark.parametrize("url", ["ftp://host", "http://", "localhost:3000"])
def test_a_bad_upstream_url_is_refused_at_construction(url: str) -> None:
    with pytest.raises(ValueError, match="upstream URL"):
        HttpClient(url, max_connections=1, connect_timeout_seconds=1)
