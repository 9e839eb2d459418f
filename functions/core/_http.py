"""From an ASGI request to a response: Starlette routing, CORS, auth, limits, errors, logs.

Every function is a table of routes (`route(...)`); `application` turns one or
more of them into a Starlette stack, outermost first:
- `_Observed`: the request id (a well-formed `X-Request-Id` is echoed, else a
  new one), `X-Request-Id` on every response, and one JSON log line per
  request: function, method, path template, status, latency, request id; never
  a token, key, amount or body.
- `CORSMiddleware`: preflights and the CORS headers of every answer. Locally
  any `http://localhost:<port>` and `http://127.0.0.1:<port>` is allowed, and
  elsewhere only `CORS_ALLOWED_ORIGINS`.
- `ExceptionMiddleware` with one handler, `handle_error`: every `ApiError`
  raised anywhere below, Starlette's own 404 and 405, and any other exception
  become the error envelope of docs/product.md there and only there. An unexpected
  exception is logged with its request id and answered 500 `internal`, with
  nothing in the body a client could learn the system from.
- `Router`: Starlette `Route`s, one per path, its methods declared; each
  endpoint verifies the token (and the admin role) when the route asks for it,
  reads the body within its limit, and calls the handler.

The functions run in functions-framework's ASGI mode (Starlette on uvicorn):
measured on the benchmark machine, a bare Flask function costs 0.54 to 0.69 ms
of CPU per request under gunicorn, the same function in ASGI mode 0.06 to 0.2 ms.
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
from http import HTTPStatus
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as StarletteRoute
from starlette.routing import Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._config import Settings, get_settings
from ._error_table import kind_of
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
from ._fields import ID, ID_RULE, IDEMPOTENCY_KEY
from ._jwt_verifier import Caller
from ._runtime import Runtime, get_runtime

__all__ = [
    "Context",
    "Reply",
    "Route",
    "application",
    "csv_reply",
    "handle_error",
    "json_reply",
    "route",
    "validation_problems",
    "visible_row",
]

Auth = Literal["none", "user", "admin"]
ModelT = TypeVar("ModelT", bound=BaseModel)

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_BEARER = re.compile(r"[Bb]earer +([A-Za-z0-9._~+/=-]+)")
_CORS_ALLOW_HEADERS = (
    "authorization",
    "apikey",
    "content-type",
    "idempotency-key",
    "x-client-info",
)
_CORS_EXPOSE_HEADERS = ("X-Request-Id", "Idempotent-Replayed", "Retry-After")
_CORS_ALLOW_METHODS = ("GET", "POST", "PATCH", "OPTIONS")
_CORS_MAX_AGE_SECONDS = 600
# A local frontend's dev server, on whatever port it picked.
_LOCAL_ORIGINS = r"http://(localhost|127\.0\.0\.1)(:[0-9]{1,5})?"
_METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)


async def visible_row(
    ctx: Context, table: str, row_id: str, columns: str, *, noun: str
) -> dict[str, Any]:
    """The row `row_id` of `table` as the caller sees it, or 404 `no such <noun>`.

    RLS decides what the caller sees, so another user's row is a 404 too, exactly like
    a row that does not exist: no answer tells the two apart.
    """
    postgrest = ctx.runtime.postgrest
    query = postgrest.table(table, token=ctx.caller.token).select(columns)
    rows = await postgrest.rows(query.eq("id", row_id).limit(1))
    if not rows:
        raise NotFound(f"no such {noun}")
    return rows[0]


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
        """A path id, refused as a malformed id in a body is: 422 naming it, the rule in words.

        A well-formed id that names nothing the caller may see is a 404 (the handler's).
        """
        value = self.params[name]
        if not ID.fullmatch(value):
            raise ValidationFailed.field(name, ID_RULE)
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
    """One operation of a function: declared once, served by Starlette, listed in OpenAPI.

    `errors` names the error codes the operation answers with besides those every
    operation may give (`internal`, `upstream_unavailable`, and `unauthorized` or
    `forbidden` from its `auth`); OpenAPI reads their statuses from the error table.
    `response` is the success body's model, "csv" for a CSV download. `webhook` marks a
    provider's signed callback, whose body may be larger than any client's request.
    """

    method: str
    template: str
    handler: Handler
    auth: Auth
    summary: str
    success: int
    response: type[BaseModel] | Literal["csv"] | None
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    errors: tuple[str, ...]
    idempotent: bool
    webhook: bool = False


def route(
    method: str,
    template: str,
    handler: Handler,
    *,
    summary: str,
    response: type[BaseModel] | Literal["csv"] | None,
    auth: Auth = "user",
    success: int = 200,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    errors: tuple[str, ...] = (),
    idempotent: bool = False,
    webhook: bool = False,
) -> Route:
    """`template` like "/accounts/{account_id}"; each placeholder matches one path segment."""
    for code in errors:
        kind_of(code)  # an unknown code fails at import, not in the OpenAPI document
    return Route(
        method, template, handler, auth, summary, success, response, body, query, errors,
        idempotent, webhook,
    )  # fmt: skip


def validation_problems(error: ValidationError) -> list[FieldProblem]:
    """pydantic's errors as [{field, message}], with our own messages kept as written."""
    problems: list[FieldProblem] = []
    for item in error.errors(include_url=False, include_input=False):
        name = ".".join(str(part) for part in item["loc"]) or "body"
        message = item["msg"].removeprefix("Value error, ")
        problems.append({"field": name, "message": message})
    return problems


# The application -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Served:
    """What the access log says about a matched path: its function and template."""

    function: str
    template: str


def application(functions: Mapping[str, Sequence[Route]], name: str) -> ASGIApp:
    """One ASGI app serving the routes of `functions` (function name → routes).

    `name` labels the log lines of requests no route matched.
    """
    served: dict[object, _Served] = {}
    routes: list[StarletteRoute] = []
    for function, declared in functions.items():
        by_path: dict[str, dict[str, Route]] = {}
        for each in declared:
            by_path.setdefault(each.template, {})[each.method] = each
        for template, operations in by_path.items():
            endpoint = _endpoint(operations)
            served[endpoint] = _Served(function, template)
            routes.append(StarletteRoute(template, endpoint, methods=list(operations)))
    # No slash redirects: a deployed function answers exactly the paths docs/product.md lists.
    router = Router(routes, redirect_slashes=False)
    # HTTPException too: ExceptionMiddleware has its own handler for it, and that answer
    # would not be the envelope.
    handlers = {Exception: handle_error, HTTPException: handle_error}
    inner = ExceptionMiddleware(router, handlers=handlers)
    return _Observed(inner, name, served)


def _endpoint(operations: Mapping[str, Route]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        # Starlette answers HEAD wherever GET is declared.
        target = operations.get(request.method) or operations["GET"]
        runtime = get_runtime()
        context = Context(request, dict(request.path_params), _request_id(request.scope), runtime)
        if target.auth != "none":
            caller = await _authenticate(request, runtime, admin=target.auth == "admin")
            context.caller_or_none = caller
        if request.method in _METHODS_WITH_BODY:
            settings = runtime.settings
            limit = settings.webhook_max_body_bytes if target.webhook else settings.max_body_bytes
            context.raw_body = await _read_body(request, limit)
        reply = await target.handler(context)
        return Response(reply.body, reply.status, dict(reply.headers), reply.content_type)

    return endpoint


class _Cors(CORSMiddleware):
    """Starlette's CORS, with a refused preflight answered in the error envelope."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 200:
            raise Forbidden(f"{bytes(response.body).decode()}: not allowed here")
        return response


def _cors(app: ASGIApp, settings: Settings) -> ASGIApp:
    return _Cors(
        app,
        allow_origins=sorted(settings.allowed_origins),
        allow_origin_regex=_LOCAL_ORIGINS if settings.is_local else None,
        allow_methods=_CORS_ALLOW_METHODS,
        allow_headers=_CORS_ALLOW_HEADERS,
        expose_headers=_CORS_EXPOSE_HEADERS,
        max_age=_CORS_MAX_AGE_SECONDS,
    )


class _Observed:
    """Request id, `X-Request-Id` on every answer, one log line; CORS just inside it."""

    def __init__(self, app: ASGIApp, name: str, served: Mapping[object, _Served]) -> None:
        self._app = app
        self._name = name
        self._served = served
        self._cors: tuple[Settings, ASGIApp] | None = None

    def _with_cors(self) -> ASGIApp:
        # The CORS policy is the settings'; tests change the settings between requests.
        settings = get_settings()
        if self._cors is None or self._cors[0] is not settings:
            self._cors = (settings, _cors(self._app, settings))
        return self._cors[1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # pragma: no cover - functions-framework sends http only
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _new_request_id(Headers(scope=scope).get("x-request-id", ""))
        scope.setdefault("state", {})["request_id"] = request_id
        status = InternalError.status

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self._with_cors()(scope, receive, send_with_id)
        except Exception as error:  # a refused preflight, or a broken configuration
            response = await handle_error(Request(scope), error)
            await response(scope, receive, send_with_id)
        self._log_access(scope, status, started, request_id)

    def _log_access(self, scope: Scope, status: int, started: float, request_id: str) -> None:
        served = self._served.get(scope.get("endpoint"))
        latency_ms = round((time.perf_counter() - started) * 1000, 3)
        severity = (
            "ERROR"
            if status >= HTTPStatus.INTERNAL_SERVER_ERROR
            else "WARNING"
            if status >= HTTPStatus.BAD_REQUEST
            else "INFO"
        )
        _log_line({
            "severity": severity,
            "message": "request",
            "function": served.function if served else self._name,
            "method": scope["method"],
            "path": served.template if served else "unmatched",
            "status": status,
            "latency_ms": latency_ms,
            "request_id": request_id,
        })  # fmt: skip


async def handle_error(request: Request, error: Exception) -> Response:
    """The one place an error becomes an answer: the envelope of docs/product.md."""
    request_id = _request_id(request.scope)
    if isinstance(error, HTTPException):
        answer = _routing_error(request, error)
    elif isinstance(error, ApiError):
        answer = error
    else:
        _log_line(_exception_record(request, request_id, error))
        answer = InternalError()
    envelope = {
        "error": {
            "code": answer.code,
            "message": answer.message,
            "details": answer.details,
            "request_id": request_id,
        }
    }
    body = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(body, answer.status, answer.headers, "application/json")


def _routing_error(request: Request, error: HTTPException) -> ApiError:
    """Starlette's router found no path (404) or not this method on it (405)."""
    if error.status_code == MethodNotAllowed.status and error.headers:
        allowed = sorted(method.strip() for method in error.headers["Allow"].split(","))
        return MethodNotAllowed([*allowed, "OPTIONS"])
    if error.status_code == NotFound.status:
        return NotFound(f"no such path: {request.method} {_safe_path(request.url.path)}")
    return InternalError()


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


def _new_request_id(given: str) -> str:
    if _REQUEST_ID.fullmatch(given):
        return given
    return os.urandom(12).hex()


def _request_id(scope: Scope) -> str:
    request_id: str = scope["state"]["request_id"]
    return request_id


def _exception_record(request: Request, request_id: str, error: Exception) -> dict[str, Any]:
    return {
        "severity": "ERROR",
        "message": "unhandled exception",
        "method": request.method,
        "request_id": request_id,
        "traceback": "".join(traceback.format_exception(error, limit=20)),
    }


def _log_line(record: dict[str, Any]) -> None:
    """One JSON object per line on stdout, the shape Cloud Logging reads structured."""
    sys.stdout.write(json.dumps(record, separators=(",", ":")) + "\n")
