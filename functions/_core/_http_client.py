"""A small asyncio HTTP/1.1 client for one upstream: PostgREST.

Why not httpx, which the rest of the Python world uses: measured on the 2-core
machine this project is benchmarked on, `httpx.AsyncClient` spends 1.2 to 1.9 ms
of CPU per request (anyio, httpcore and h11 are pure Python), more than
PostgREST spends serving the same request; even over a custom transport its
client layer alone costs about 0.2 ms. This client keeps a bounded pool of
keep-alive connections to a single origin and parses responses with httptools,
the C parser uvicorn uses, for about 0.2 ms per request in all.

It does only what talking to PostgREST needs: one origin (http or https),
request bodies of known length, responses with a length or chunked, explicit
connect and total timeouts, a cap on the response size. A request that failed
on a reused keep-alive connection before any byte of the answer arrived is
retried once on a fresh connection, but only when the caller says the request
is safe to repeat (reads, and money calls that carry an idempotency key).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httptools

__all__ = ["HttpClient", "Response", "UpstreamTimeoutError", "UpstreamTransportError"]


class UpstreamTransportError(Exception):
    """The upstream could not be reached, or the connection broke mid-answer."""


class UpstreamTimeoutError(UpstreamTransportError):
    """The upstream did not answer within the time allowed."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes


@dataclass(slots=True)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = field(default_factory=time.monotonic)

    def close(self) -> None:
        self.writer.close()


class _Answer:
    """httptools callbacks collecting one response."""

    __slots__ = (
        "body",
        "body_size",
        "complete",
        "headers",
        "keep_alive",
        "max_body_bytes",
        "parser",
    )

    def __init__(self, max_body_bytes: int) -> None:
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.body_size = 0
        self.complete = False
        self.keep_alive = False
        self.max_body_bytes = max_body_bytes
        self.parser = httptools.HttpResponseParser(self)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, chunk: bytes) -> None:
        self.body_size += len(chunk)
        if self.body_size > self.max_body_bytes:
            raise UpstreamTransportError("upstream answer exceeds the size limit")
        self.body.append(chunk)

    def on_message_complete(self) -> None:
        # llhttp answers should_keep_alive() correctly only inside this callback.
        self.keep_alive = self.parser.should_keep_alive()
        self.complete = True


class _StaleConnectionError(Exception):
    """A reused connection failed before the upstream sent any byte."""


class HttpClient:
    def __init__(
        self,
        base_url: str,
        *,
        max_connections: int,
        connect_timeout_seconds: float,
        keepalive_expiry_seconds: float = 4.0,
        max_response_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream URL must be http(s)://host[:port][/path], got {base_url!r}")
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self._base_path = parts.path.rstrip("/")
        default_port = self._port == (443 if self._ssl else 80)
        self._host_header = self._host if default_port else f"{self._host}:{self._port}"
        self._connect_timeout_seconds = connect_timeout_seconds
        self._keepalive_expiry_seconds = keepalive_expiry_seconds
        self._max_response_bytes = max_response_bytes
        self._idle: deque[_Connection] = deque()
        self._slots = asyncio.Semaphore(max_connections)

    async def request(
        self,
        method: str,
        target: str,
        *,
        headers: dict[str, str],
        body: bytes = b"",
        timeout_seconds: float,
        repeatable: bool,
    ) -> Response:
        """Send one request; `target` is the path (with query) below the base URL."""
        head = self._head(method, target, headers, len(body))
        try:
            async with self._slots, asyncio.timeout(timeout_seconds):
                connection = self._take_idle()
                if connection is None:
                    return await self._exchange(await self._connect(), head, body)
                try:
                    return await self._exchange(connection, head, body, reused=True)
                except _StaleConnectionError:
                    if not repeatable:
                        raise UpstreamTransportError("connection to upstream was lost") from None
                    return await self._exchange(await self._connect(), head, body)
        except TimeoutError:
            raise UpstreamTimeoutError(
                f"upstream did not answer within {timeout_seconds} s"
            ) from None

    async def aclose(self) -> None:
        while self._idle:
            self._idle.popleft().close()

    def _head(self, method: str, target: str, headers: dict[str, str], length: int) -> bytes:
        lines = [f"{method} {self._base_path}{target} HTTP/1.1", f"host: {self._host_header}"]
        lines.extend(f"{name}: {value}" for name, value in headers.items())
        if length or method not in ("GET", "HEAD"):
            lines.append(f"content-length: {length}")
        lines.append("\r\n")
        return "\r\n".join(lines).encode("latin-1")

    def _take_idle(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            fresh = now - connection.idle_since < self._keepalive_expiry_seconds
            if fresh and not connection.reader.at_eof():
                return connection
            connection.close()
        return None

    async def _connect(self) -> _Connection:
        try:
            async with asyncio.timeout(self._connect_timeout_seconds):
                reader, writer = await asyncio.open_connection(
                    self._host,
                    self._port,
                    ssl=self._ssl,
                    server_hostname=self._host if self._ssl else None,
                )
        except (OSError, TimeoutError) as error:
            raise UpstreamTransportError(f"cannot connect to upstream: {error}") from None
        return _Connection(reader, writer)

    async def _exchange(
        self, connection: _Connection, head: bytes, body: bytes, *, reused: bool = False
    ) -> Response:
        answer = _Answer(self._max_response_bytes)
        parser = answer.parser
        received_any = False
        try:
            connection.writer.write(head + body if body else head)
            await connection.writer.drain()
            while not answer.complete:
                data = await connection.reader.read(65536)
                if not data:
                    raise ConnectionResetError("upstream closed the connection")
                received_any = True
                parser.feed_data(data)
        except (OSError, httptools.HttpParserError, UpstreamTransportError) as error:
            connection.close()
            if reused and not received_any and isinstance(error, OSError):
                raise _StaleConnectionError from error
            if isinstance(error, UpstreamTransportError):
                raise
            raise UpstreamTransportError(f"upstream connection failed: {error}") from None
        except BaseException:
            # A timeout or cancellation mid-answer leaves the stream unusable.
            connection.close()
            raise
        if answer.keep_alive:
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        else:
            connection.close()
        return Response(parser.get_status_code(), answer.headers, b"".join(answer.body))
