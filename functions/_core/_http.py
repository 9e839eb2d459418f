"""From an ASGI request to a response: routing, auth, limits, errors, CORS, logs.

Every function is a table of routes; `serve` is the single place where a
request meets it. In order: request id, CORS preflight, route match (404, 405
with Allow), token verification and the admin check when the route asks for
them, then the handler. Every `ApiError` raised anywhere below becomes the
error envelope of PRODUCT.md here and only here; any other exception is logged
with its request id and answered 500 `internal`, with nothing in the body a
client could learn the system from. Each request ends with one JSON log line:
method, path template, status, latency and request id, never a token, key,
amount or body.

The functions run in functions-framework's ASGI mode (Starlette on uvicorn):
measured on the benchmark machine, a bare Flask function costs 0.54 to 0.69 ms
of CPU per request under gunicorn, the same function in ASGI mode 0.06 to 0.2 ms,
and the whole function must cost no more than PostgREST does (about 0.7 ms).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from ._errors import (
    ApiError,
    BadRequest,
    FieldProblem,
    Forbidden,
    InternalError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    ValidationFailed,
)
from ._jwt_verifier import Caller
from ._models import IDEMPOTENCY_KEY
from ._runtime import Runtime, get_runtime

__all__ = [
    "Context",
    "Reply",
    "Route",
    "csv_reply",
    "json_reply",
    "route",
    "serve",
    "validation_problems",
]

Auth = Literal["none", "user", "admin"]
ModelT = TypeVar("ModelT", bound=BaseModel)

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_BEARER = re.compile(r"[Bb]earer +([A-Za-z0-9._~+/=-]+)")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_CORS_ALLOW_HEADERS = "authorization, apikey, content-type, idempotency-key, x-client-info"
_CORS_EXPOSE_HEADERS = "X-Request-Id, Idempotent-Replayed, Retry-After"
_CORS_MAX_AGE_SECONDS = "600"


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)


def json_reply(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Reply:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return Reply(status, body, headers=headers or {})


def csv_reply(text: str, filename: str) -> Reply:
    disposition = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Reply(200, text.encode(), "text/csv; charset=utf-8", disposition)


@dataclass(slots=True)
class Context:
    """What a handler gets: the request, path parameters, the verified caller."""

    request: Request
    params: dict[str, str]
    request_id: str
    runtime: Runtime
    raw_body: bytes = b""
    caller_or_none: Caller | None = None

    @property
    def caller(self) -> Caller:
        assert self.caller_or_none is not None, "the route must declare auth"
        return self.caller_or_none

    def body(self, model: type[ModelT]) -> ModelT:
        """The JSON body validated against `model`: 413, 400 invalid_json or 422."""
        payload = _parse_json(self.raw_body)
        try:
            return model.model_validate(payload)
        except ValidationError as error:
            raise ValidationFailed(validation_problems(error)) from None

    def uuid_param(self, name: str) -> str:
        """A path id; one that is not a UUID names nothing, so it is a 404, not a 422."""
        value = self.params[name]
        if not _UUID.fullmatch(value):
            raise NotFound()
        return value.lower()

    def query(self, model: type[ModelT]) -> ModelT:
        """The query string validated against `model` (422 with per-field details)."""
        try:
            return model.model_validate(dict(self.request.query_params))
        except ValidationError as error:
            raise ValidationFailed(validation_problems(error)) from None

    def idempotency_key(self) -> str:
        key = self.request.headers.get("idempotency-key")
        if key is None or key == "":
            raise BadRequest(
                "this call moves money and needs an Idempotency-Key header",
                code="idempotency_key_required",
            )
        if not IDEMPOTENCY_KEY.fullmatch(key):
            raise ValidationFailed.field(
                "Idempotency-Key", "must be 1 to 255 characters of A-Z a-z 0-9 _ . : -"
            )
        return key


Handler = Callable[[Context], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    handler: Handler
    auth: Auth


def route(method: str, template: str, handler: Handler, *, auth: Auth = "user") -> Route:
    """`template` like "/accounts/{account_id}"; each placeholder matches one path segment."""
    parts = _PLACEHOLDER.split(template)  # literal, name, literal, name, ..., literal
    regex = "".join(
        re.escape(part) if index % 2 == 0 else f"(?P<{part}>[^/]+)"
        for index, part in enumerate(parts)
    )
    return Route(method, template, re.compile(regex), handler, auth)


def validation_problems(error: ValidationError) -> list[FieldProblem]:
    """pydantic's errors as [{field, message}], with our own messages kept as written."""
    problems: list[FieldProblem] = []
    for item in error.errors(include_url=False, include_input=False):
        name = ".".join(str(part) for part in item["loc"]) or "body"
        message = item["msg"].removeprefix("Value error, ")
        problems.append({"field": name, "message": message})
    return problems


async def serve(request: Request, routes: Sequence[Route], function: str) -> Response:
    """The single entry of every function: one request in, one response out, one log line."""
    started = time.perf_counter()
    request_id = _request_id(request)
    template = "unmatched"
    try:
        runtime = get_runtime()
        matched = _match(request, routes)
        template = _template(request.url.path, routes, matched)
        reply = await _handle(request, matched, routes, runtime, request_id)
    except ApiError as error:
        reply = _error_reply(error, request_id)
    except Exception:
        _log_line(_exception_record(function, request, request_id))
        reply = _error_reply(InternalError(), request_id)
    response = _to_response(reply, request, request_id)
    _log_access(function, request, template, response.status_code, started, request_id)
    return response


_METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


async def _handle(
    request: Request,
    matched: tuple[Route, dict[str, str]] | None,
    routes: Sequence[Route],
    runtime: Runtime,
    request_id: str,
) -> Reply:
    if _is_preflight(request):
        return _preflight(request, routes, runtime)
    if matched is None:
        raise _no_route(request, routes)
    target, params = matched
    context = Context(request, params, request_id, runtime)
    if target.auth != "none":
        caller = await _authenticate(request, runtime, admin=target.auth == "admin")
        context.caller_or_none = caller
    if request.method in _METHODS_WITH_BODY:
        context.raw_body = await _read_body(request, runtime.settings.max_body_bytes)
    return await target.handler(context)


def _match(request: Request, routes: Sequence[Route]) -> tuple[Route, dict[str, str]] | None:
    path = request.url.path
    for candidate in routes:
        if candidate.method != request.method:
            continue
        found = candidate.pattern.fullmatch(path)
        if found:
            return candidate, found.groupdict()
    return None


def _template(
    path: str, routes: Sequence[Route], matched: tuple[Route, dict[str, str]] | None
) -> str:
    if matched is not None:
        return matched[0].template
    same_path = (each.template for each in routes if each.pattern.fullmatch(path))
    return next(same_path, "unmatched")


def _methods_for(path: str, routes: Sequence[Route]) -> list[str]:
    methods = [each.method for each in routes if each.pattern.fullmatch(path)]
    return sorted(set(methods))


def _no_route(request: Request, routes: Sequence[Route]) -> ApiError:
    allowed = _methods_for(request.url.path, routes)
    if allowed:
        return MethodNotAllowed([*allowed, "OPTIONS"])
    return NotFound(f"no such path: {request.method} {_safe_path(request.url.path)}")


def _safe_path(path: str) -> str:
    return path if len(path) <= 200 else path[:200] + "..."


async def _authenticate(request: Request, runtime: Runtime, *, admin: bool) -> Caller:
    found = _BEARER.fullmatch(request.headers.get("authorization", ""))
    if found is None:
        raise Unauthorized("an Authorization: Bearer <access token> header is required")
    token = found[1]
    caller = Caller.from_claims(token, await runtime.verifier.verify(token))
    if admin and not caller.is_admin:
        raise Forbidden("this path is for bank staff only")
    return caller


async def _read_body(request: Request, limit_bytes: int) -> bytes:
    """The body, refused with 413 as soon as it is known to be over the limit."""
    too_large = PayloadTooLarge(f"the request body may be at most {limit_bytes} bytes")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit_bytes):
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit_bytes:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_json(raw: bytes) -> Any:
    if not raw:
        raise BadRequest("the request body is empty; send a JSON object")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise BadRequest() from None


def _is_preflight(request: Request) -> bool:
    return request.method == "OPTIONS" and "access-control-request-method" in request.headers


def _preflight(request: Request, routes: Sequence[Route], runtime: Runtime) -> Reply:
    origin = request.headers.get("origin", "")
    if origin not in runtime.settings.allowed_origins:
        raise Forbidden("this origin is not allowed")
    methods = _methods_for(request.url.path, routes)
    if not methods:
        raise NotFound(f"no such path: {_safe_path(request.url.path)}")
    headers = {
        "Access-Control-Allow-Methods": ", ".join([*methods, "OPTIONS"]),
        "Access-Control-Allow-Headers": _CORS_ALLOW_HEADERS,
        "Access-Control-Max-Age": _CORS_MAX_AGE_SECONDS,
    }
    return Reply(204, b"", headers=headers)


def _error_reply(error: ApiError, request_id: str) -> Reply:
    envelope = {
        "error": {
            "code": error.code,
            "message": error.message,
            "details": error.details,
            "request_id": request_id,
        }
    }
    return json_reply(error.status, envelope, error.headers)


def _to_response(reply: Reply, request: Request, request_id: str) -> Response:
    headers = {**reply.headers, "X-Request-Id": request_id}
    origin = request.headers.get("origin")
    if origin is not None:
        headers["Vary"] = "Origin"
        if origin in _allowed_origins():
            headers["Access-Control-Allow-Origin"] = origin
            headers["Access-Control-Expose-Headers"] = _CORS_EXPOSE_HEADERS
    return Response(reply.body, reply.status, headers, media_type=reply.content_type)


def _allowed_origins() -> frozenset[str]:
    try:
        return get_runtime().settings.allowed_origins
    except Exception:  # a broken configuration already produced the answer being sent
        return frozenset()


def _request_id(request: Request) -> str:
    given = request.headers.get("x-request-id", "")
    if _REQUEST_ID.fullmatch(given):
        return given
    return os.urandom(12).hex()


def _log_access(
    function: str,
    request: Request,
    template: str,
    status: int,
    started: float,
    request_id: str,
) -> None:
    latency_ms = round((time.perf_counter() - started) * 1000, 3)
    severity = "ERROR" if status >= 500 else "WARNING" if status >= 400 else "INFO"
    _log_line({
        "severity": severity,
        "message": "request",
        "function": function,
        "method": request.method,
        "path": template,
        "status": status,
        "latency_ms": latency_ms,
        "request_id": request_id,
    })  # fmt: skip


def _exception_record(function: str, request: Request, request_id: str) -> dict[str, Any]:
    return {
        "severity": "ERROR",
        "message": "unhandled exception",
        "function": function,
        "method": request.method,
        "request_id": request_id,
        "traceback": traceback.format_exc(limit=20),
    }


def _log_line(record: dict[str, Any]) -> None:
    """One JSON object per line on stdout, the shape Cloud Logging reads structured."""
    sys.stdout.write(json.dumps(record, separators=(",", ":")) + "\n")
