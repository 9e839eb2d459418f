"""Every error a function can answer with, and how a PostgREST answer becomes one.

    Exception
     └── ApiError(code, status, message, details)   answered to the client as is
          ├── BadRequest            400 invalid_json, idempotency_key_required
          ├── Unauthorized          401 unauthorized (+ WWW-Authenticate: Bearer)
          ├── Forbidden             403 forbidden
          ├── NotFound              404 not_found
          ├── MethodNotAllowed      405 method_not_allowed (+ Allow)
          ├── PayloadTooLarge       413 payload_too_large
          ├── ValidationFailed      422 validation_failed, details = [{field, message}]
          ├── PostgrestError        an answer PostgREST gave, mapped by SQLSTATE
          │    └── RateLimited      429 rate_limited (+ Retry-After)
          ├── UpstreamUnavailable   503 upstream_unavailable (+ Retry-After): no answer
          │                         at all (connect error, timeout), a 5xx, a transient
          │                         SQLSTATE, or an answer that is not PostgREST's JSON
          │                         error or carries no SQLSTATE (a backend died mid-call)
          └── InternalError         500 internal: a bug; the client learns nothing more

`PostgrestError` is kept apart from `UpstreamUnavailable`: the first is the
database telling the caller "no" (never retried), the second is the function
not reaching the database (the caller may retry after `Retry-After`). Errors
become HTTP responses in exactly one place, `functions.core._http`; nothing
here knows about the web framework. Each class names its code only: the status and
the default message are the error table's (`_error_table`), as is the SQLSTATE map.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from ._error_table import kind_of, kind_of_sqlstate

__all__ = [
    "SERIALIZATION_SQLSTATES",
    "ApiError",
    "BadRequest",
    "FieldProblem",
    "Forbidden",
    "InternalError",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "PostgrestError",
    "RateLimited",
    "Unauthorized",
    "UpstreamUnavailable",
    "ValidationFailed",
    "error_from_postgrest",
]

FieldProblem = dict[str, str]

# Deadlocks and serialization failures roll the whole transaction back, so the
# call can be repeated; see `_postgrest` for the bounded retry.
SERIALIZATION_SQLSTATES = frozenset({"40001", "40P01"})


class ApiError(Exception):
    """An answer for the client: a stable code, its status, a safe message."""

    code: str = "internal"
    status: int = kind_of("internal").status

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        cls.status = kind_of(cls.code).status

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Any = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        kind = kind_of(code or type(self).code)
        self.code = kind.code
        self.status = kind.status
        self.message = message or kind.message
        self.details = details
        self.headers = headers or {}
        super().__init__(f"{self.code}: {self.message}")


class BadRequest(ApiError):
    code = "invalid_json"


class Unauthorized(ApiError):
    code = "unauthorized"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer realm="ledgerbase"'})


class Forbidden(ApiError):
    code = "forbidden"


class NotFound(ApiError):
    code = "not_found"


class MethodNotAllowed(ApiError):
    code = "method_not_allowed"

    def __init__(self, allowed: list[str]) -> None:
        super().__init__(f"use one of: {', '.join(allowed)}", headers={"Allow": ", ".join(allowed)})


class PayloadTooLarge(ApiError):
    code = "payload_too_large"


class ValidationFailed(ApiError):
    code = "validation_failed"

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__(details=problems)

    @classmethod
    def field(cls, field: str, message: str) -> ValidationFailed:
        return cls([{"field": field, "message": message}])


class PostgrestError(ApiError):
    """The database refused the call; its code comes from the error table's SQLSTATEs."""


class RateLimited(PostgrestError):
    code = "rate_limited"

    def __init__(self, message: str | None, retry_after_seconds: int) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after_seconds)})


class UpstreamUnavailable(ApiError):
    code = "upstream_unavailable"

    def __init__(self, retry_after_seconds: int = 1) -> None:
        super().__init__(headers={"Retry-After": str(retry_after_seconds)})


class InternalError(ApiError):
    """A bug or an answer we do not understand: logged in full, answered with nothing."""


def _retry_after_seconds(details: Any) -> int:
    try:
        seconds = int(float(str(details)))
    except ValueError:
        return 1
    return min(max(seconds, 1), 3_600)


def _ledger_error(code: str, message: Any, details: Any) -> ApiError:
    """A refusal raised by the ledger's own SQL, whose message is written for clients."""
    text = message if isinstance(message, str) and message else None
    if code == RateLimited.code:
        return RateLimited(text, _retry_after_seconds(details))
    if code == ValidationFailed.code:
        field = details.removeprefix("p_") if isinstance(details, str) and details else "body"
        problems = [{"field": field, "message": text or kind_of(code).message}]
        return PostgrestError(text, code=code, details=problems)
    return PostgrestError(text, code=code, details=details)


def error_from_postgrest(http_status: int, body: Any, retry_after_seconds: int) -> ApiError:
    """Map one PostgREST error answer (HTTP status and JSON body) to the error to answer.

    The ledger's own SQLSTATEs (class BK) carry messages written for clients
    ("account (id=...) is frozen"); anything else may carry SQL or table names, so its
    text never reaches the client.
    """
    sqlstate = body.get("code") if isinstance(body, dict) else None
    if not isinstance(sqlstate, str) or not sqlstate:
        # Not PostgREST's JSON error, or one without a SQLSTATE (what PostgREST answers
        # when the database backend dies mid-call): the outcome is unknown and may have
        # committed, so the client retries with its idempotency key to learn it.
        return UpstreamUnavailable(retry_after_seconds)
    kind = kind_of_sqlstate(sqlstate)
    exact = kind is not None and sqlstate in kind.sqlstates
    if exact and kind is not None and sqlstate.startswith("BK"):
        error = _ledger_error(kind.code, body.get("message"), body.get("details"))
        if body.get("replayed") is True:
            # A refusal stored under an idempotency key, answered again: same status and
            # body as the first time, marked like a replayed success (docs/product.md).
            error.headers["Idempotent-Replayed"] = "true"
        return error
    if http_status >= HTTPStatus.INTERNAL_SERVER_ERROR and not exact:
        # PostgREST's own failure without a SQLSTATE the table knows: the outcome is unknown.
        return UpstreamUnavailable(retry_after_seconds)
    return _platform_error(kind.code if kind else InternalError.code, retry_after_seconds)


def _platform_error(code: str, retry_after_seconds: int) -> ApiError:
    """PostgREST's and Postgres's own codes, answered with the table's default message."""
    if code == Unauthorized.code:
        return Unauthorized()
    if code == UpstreamUnavailable.code:
        return UpstreamUnavailable(retry_after_seconds)
    if code == ValidationFailed.code:
        # Data and integrity exceptions the models did not catch: the input is at fault.
        return ValidationFailed.field("body", "the database refused a value in this request")
    if code == InternalError.code:
        return InternalError()
    return PostgrestError(code=code)
