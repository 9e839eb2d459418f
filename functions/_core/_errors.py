"""Every error a function can answer with, and the SQLSTATE table that maps the ledger's.

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
become HTTP responses in exactly one place, `functions._core._http`; nothing
here knows about the web framework.
"""

from __future__ import annotations

from typing import Any

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
    """An answer for the client: a stable code, an HTTP status, a safe message."""

    code = "internal"
    status = 500
    message = "internal error"

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Any = None,
        code: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or type(self).message
        self.code = code or type(self).code
        self.status = status or type(self).status
        self.details = details
        self.headers = headers or {}
        super().__init__(f"{self.code}: {self.message}")


class BadRequest(ApiError):
    code = "invalid_json"
    status = 400
    message = "the request body is not valid JSON"


class Unauthorized(ApiError):
    code = "unauthorized"
    status = 401
    message = "a valid bearer token is required"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer realm="ledgerbase"'})


class Forbidden(ApiError):
    code = "forbidden"
    status = 403
    message = "you are not allowed to do this"


class NotFound(ApiError):
    code = "not_found"
    status = 404
    message = "not found"


class MethodNotAllowed(ApiError):
    code = "method_not_allowed"
    status = 405
    message = "method not allowed on this path"

    def __init__(self, allowed: list[str]) -> None:
        super().__init__(f"use one of: {', '.join(allowed)}", headers={"Allow": ", ".join(allowed)})


class PayloadTooLarge(ApiError):
    code = "payload_too_large"
    status = 413
    message = "the request body is too large"


class ValidationFailed(ApiError):
    code = "validation_failed"
    status = 422
    message = "the request is not valid"

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__(details=problems)

    @classmethod
    def field(cls, field: str, message: str) -> ValidationFailed:
        return cls([{"field": field, "message": message}])


class PostgrestError(ApiError):
    """The database refused the call; `code` and `status` come from the SQLSTATE table."""


class RateLimited(PostgrestError):
    code = "rate_limited"
    status = 429
    message = "too many requests"

    def __init__(self, message: str | None, retry_after_seconds: int) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after_seconds)})


class UpstreamUnavailable(ApiError):
    code = "upstream_unavailable"
    status = 503
    message = "the ledger is unavailable, retry shortly"

    def __init__(self, retry_after_seconds: int = 1) -> None:
        super().__init__(headers={"Retry-After": str(retry_after_seconds)})


class InternalError(ApiError):
    """A bug or an answer we do not understand: logged in full, answered with nothing."""


# The ledger's business SQLSTATEs (docs/sql-contract.md): code, HTTP status.
_LEDGER_SQLSTATES: dict[str, tuple[str, int]] = {
    "BK001": ("insufficient_funds", 422),
    "BK002": ("currency_mismatch", 422),
    "BK003": ("same_account", 422),
    "BK004": ("account_inactive", 409),
    "BK005": ("not_found", 404),
    "BK006": ("idempotency_key_reused", 409),
    "BK007": ("limit_exceeded", 422),
    "BK008": ("rate_limited", 429),
    "BK009": ("validation_failed", 422),
    "BK010": ("forbidden", 403),
    "BK011": ("invalid_state", 409),
    "BK012": ("amount_exceeds_payoff", 422),
}

# PostgREST's and Postgres's own codes that a correct call can still meet.
_PLATFORM_SQLSTATES: dict[str, tuple[str, int, str]] = {
    "PGRST301": ("unauthorized", 401, "a valid bearer token is required"),
    "PGRST302": ("unauthorized", 401, "a valid bearer token is required"),
    "PGRST303": ("unauthorized", 401, "a valid bearer token is required"),
    "PGRST116": ("not_found", 404, "not found"),
    "42501": ("forbidden", 403, "you are not allowed to do this"),
}

_DEFAULT_MESSAGES = {code: code.replace("_", " ") for code, _ in _LEDGER_SQLSTATES.values()}


def _retry_after_seconds(details: Any) -> int:
    try:
        seconds = int(float(str(details)))
    except ValueError:
        return 1
    return min(max(seconds, 1), 3_600)


def _ledger_error(sqlstate: str, message: Any, details: Any) -> ApiError:
    code, status = _LEDGER_SQLSTATES[sqlstate]
    text = message if isinstance(message, str) and message else _DEFAULT_MESSAGES[code]
    if code == "rate_limited":
        return RateLimited(text, _retry_after_seconds(details))
    if code == "validation_failed":
        field = details.removeprefix("p_") if isinstance(details, str) and details else "body"
        problems = [{"field": field, "message": text}]
        return PostgrestError(text, code=code, status=status, details=problems)
    return PostgrestError(text, code=code, status=status, details=details)


def error_from_postgrest(http_status: int, body: Any, retry_after_seconds: int) -> ApiError:
    """Map one PostgREST error answer (HTTP status and JSON body) to the error to answer.

    The ledger's own SQLSTATEs carry messages written for clients ("account
    (id=...) is frozen"); anything else may carry SQL or table names, so its text
    never reaches the client.
    """
    sqlstate = body.get("code") if isinstance(body, dict) else None
    if isinstance(sqlstate, str) and sqlstate in _LEDGER_SQLSTATES:
        error = _ledger_error(sqlstate, body.get("message"), body.get("details"))
        if body.get("replayed") is True:
            # A refusal stored under an idempotency key, answered again: same status and
            # body as the first time, marked like a replayed success (PRODUCT.md).
            error.headers["Idempotent-Replayed"] = "true"
        return error
    if isinstance(sqlstate, str) and sqlstate in _PLATFORM_SQLSTATES:
        code, status, message = _PLATFORM_SQLSTATES[sqlstate]
        if status == Unauthorized.status:
            return Unauthorized()
        return PostgrestError(message, code=code, status=status)
    if not isinstance(sqlstate, str) or not sqlstate or http_status >= 500:
        # Not PostgREST's JSON error, or one without a SQLSTATE (what PostgREST answers
        # when the database backend dies mid-call), or a 5xx: the outcome is unknown and
        # may have committed, so the client retries with its idempotency key to learn it.
        return UpstreamUnavailable(retry_after_seconds)
    if _is_transient(sqlstate):
        return UpstreamUnavailable(retry_after_seconds)
    if sqlstate[:2] in ("22", "23"):
        # Data and integrity exceptions the models did not catch: the input is at fault.
        return ValidationFailed.field("body", "the database refused a value in this request")
    return InternalError()


def _is_transient(sqlstate: str) -> bool:
    """Connection, resource and cancellation classes, and PostgREST's connection errors."""
    return (
        sqlstate[:2] in ("08", "53", "57")
        or sqlstate in SERIALIZATION_SQLSTATES
        or (sqlstate in ("PGRST000", "PGRST001", "PGRST002", "PGRST003"))
    )
