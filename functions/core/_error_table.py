"""The error table: every error code the API answers with, its HTTP status, its default
message, the SQLSTATEs that mean it, and what it means to a client.

This is the only place an HTTP status is written for an error code. The SQL raises
SQLSTATEs only; the functions map them here (`_errors.error_from_postgrest`), the
exceptions of `_errors` read their status and message from here, and the OpenAPI
error descriptions (`functions/openapi.py`) and docs/errors.md are generated from
it (`python -m functions.openapi errors > docs/errors.md`, part of `make openapi`), and
so is the SQL's own copy of the statuses, the view `private.error_statuses` (SQL_PATH):
a refusal the ledger stores under an idempotency key is answered by PostgREST, not by
the functions, so the database must know that refusal's status.
docs/decisions/0008-one-error-table-in-python.md says why the table lives in Python
rather than in SQL.

SQLSTATEs of class `BK` are the ledger's own: their messages are written for clients
and reach them as they are. Any other SQLSTATE's text may name tables or SQL, so the
client gets the table's default message instead.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ERROR_TABLE",
    "SQL_PATH",
    "ErrorKind",
    "kind_of",
    "kind_of_sqlstate",
    "render_doc",
    "render_sql",
]

# Where render_sql's output is committed, relative to the repository root.
SQL_PATH = "supabase/schemas/11_error_statuses.sql"


@dataclass(frozen=True, slots=True)
class ErrorKind:
    """One error code: how it is answered and which database answers mean it."""

    code: str
    status: int
    message: str
    meaning: str
    sqlstates: tuple[str, ...] = ()
    # Two-character SQLSTATE classes that mean this code when no exact SQLSTATE matched.
    sqlstate_classes: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()


ERROR_TABLE: tuple[ErrorKind, ...] = (
    ErrorKind("invalid_json", 400, "the request body is not valid JSON",
              "the body is empty or not JSON"),
    ErrorKind("idempotency_key_required", 400,
              "this call moves money and needs an Idempotency-Key header",
              "a money-moving call without an Idempotency-Key header"),
    ErrorKind("invalid_signature", 400, "the webhook signature does not verify",
              "a provider's webhook whose signature is missing, wrong, or older than the "
              "tolerance"),
    ErrorKind("unauthorized", 401, "a valid bearer token is required",
              "the bearer token is missing, malformed, expired or badly signed",
              ("PGRST301", "PGRST302", "PGRST303"), headers=("WWW-Authenticate",)),
    ErrorKind("forbidden", 403, "you are not allowed to do this",
              "the caller may not do this (a staff-only path, a refused CORS preflight)",
              ("BK010", "42501")),
    ErrorKind("not_found", 404, "not found",
              "no such path or resource, or one that belongs to another user",
              ("BK005", "PGRST116")),
    ErrorKind("method_not_allowed", 405, "method not allowed on this path",
              "the path exists but not with this method", headers=("Allow",)),
    ErrorKind("account_inactive", 409, "account inactive",
              "an account in the call is frozen or closed", ("BK004",)),
    ErrorKind("idempotency_key_reused", 409, "idempotency key reused",
              "the Idempotency-Key was used before for a different request", ("BK006",)),
    ErrorKind("invalid_state", 409, "invalid state",
              "the resource is not in a state that allows this", ("BK011",)),
    ErrorKind("payload_too_large", 413, "the request body is too large",
              "the body is over the size limit"),
    ErrorKind("validation_failed", 422, "the request is not valid",
              "a field breaks its rule; details: [{field, message}]",
              ("BK009",), sqlstate_classes=("22", "23")),
    ErrorKind("insufficient_funds", 422, "insufficient funds",
              "the source account's balance and overdraft do not cover the amount",
              ("BK001",)),
    ErrorKind("currency_mismatch", 422, "currency mismatch",
              "the accounts or the amount are in different currencies", ("BK002",)),
    ErrorKind("same_account", 422, "same account",
              "the source and destination are one account", ("BK003",)),
    ErrorKind("limit_exceeded", 422, "limit exceeded",
              "a per-transfer, daily, count or size limit would be exceeded", ("BK007",)),
    ErrorKind("amount_exceeds_payoff", 422, "amount exceeds payoff",
              "a repayment is larger than what pays the loan off", ("BK012",)),
    ErrorKind("rate_limited", 429, "too many requests",
              "too many calls in the current window; wait Retry-After seconds",
              ("BK008",), headers=("Retry-After",)),
    ErrorKind("internal", 500, "internal error",
              "a bug; the body says nothing more, the log has the request id"),
    ErrorKind("upstream_unavailable", 503, "the ledger is unavailable, retry shortly",
              "the database did not answer, failed over or rolled back a conflict; retry "
              "after Retry-After seconds with the same Idempotency-Key",
              ("40001", "40P01", "PGRST000", "PGRST001", "PGRST002", "PGRST003"),
              ("08", "53", "57"), headers=("Retry-After",)),
)  # fmt: skip

_BY_CODE = {kind.code: kind for kind in ERROR_TABLE}
_BY_SQLSTATE = {sqlstate: kind for kind in ERROR_TABLE for sqlstate in kind.sqlstates}
_BY_CLASS = {prefix: kind for kind in ERROR_TABLE for prefix in kind.sqlstate_classes}


def kind_of(code: str) -> ErrorKind:
    """The table's row for an error code; an unknown code is a programming error."""
    return _BY_CODE[code]


def kind_of_sqlstate(sqlstate: str) -> ErrorKind | None:
    """The row an SQLSTATE means, exactly or by its class; None when the table has none."""
    return _BY_SQLSTATE.get(sqlstate) or _BY_CLASS.get(sqlstate[:2])


def render_doc() -> str:
    """docs/errors.md: the table as a client and a SQL author read it."""
    lines = [
        "# Errors",
        "",
        "<!-- Generated from functions/core/_error_table.py by `make openapi`; edit the table"
        " there. -->",
        "",
        "Every error answer has the body",
        '`{"error": {"code", "message", "details", "request_id"}}`. The code and the status',
        "are stable; the message is for people. The SQL raises the SQLSTATEs below and",
        "nothing else decides a status: SQLSTATEs of class `BK` are the ledger's own and",
        "their messages reach the client as written; for any other SQLSTATE the client gets",
        "the default message. A class (`22...`) matches every SQLSTATE in it that has no",
        "row of its own.",
        "",
        "| Code | HTTP status | Default message | SQLSTATEs | Headers | Meaning |",
        "|---|---|---|---|---|---|",
    ]
    for kind in ERROR_TABLE:
        states = [f"`{state}`" for state in kind.sqlstates]
        states += [f"`{prefix}...`" for prefix in kind.sqlstate_classes]
        headers = ", ".join(f"`{name}`" for name in kind.headers)
        lines.append(
            f"| `{kind.code}` | {kind.status} | {kind.message} | {', '.join(states)} "
            f"| {headers} | {kind.meaning} |"
        )
    return "\n".join(lines) + "\n"


def render_sql() -> str:
    """supabase/schemas/11_error_statuses.sql: the HTTP status of each of the SQL's own
    SQLSTATEs, as a view private.refuse reads (a view, not a table's rows, so pg-delta's
    schema diff carries a change of status into the next migration)."""
    rows = [
        f"    ('{state}', '{kind.code}', {kind.status})"
        for kind in ERROR_TABLE
        for state in kind.sqlstates
        if state.startswith("BK")
    ]
    return "\n".join(
        [
            "-- The HTTP status of each SQLSTATE the ledger raises or stores (class BK).",
            "--",
            "-- Generated from functions/core/_error_table.py by `make openapi`; edit the table",
            "-- there. private.refuse reads it: a refusal stored under an idempotency key is",
            "-- answered by PostgREST with this status (`response.status`), so the database",
            "-- needs the status the functions give the same SQLSTATE.",
            "",
            "create view private.error_statuses as",
            "  select s.sqlstate, s.code, s.http_status::smallint as http_status",
            "  from (values",
            ",\n".join(rows),
            "  ) as s (sqlstate, code, http_status);",
            "",
        ]
    )
