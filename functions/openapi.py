"""The OpenAPI 3.1 document of every function, generated from the Pydantic models.

`python -m functions.openapi > functions/openapi.json` regenerates the committed
file (`make openapi`); a unit test fails when it is stale. The router serves the
committed file at `GET /openapi.json`, read once, so serving it costs nothing.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from functions._core import Context, Reply, Route, route

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["DOCUMENT_PATH", "ROUTES", "build_document", "render"]

DOCUMENT_PATH = Path(__file__).with_name("openapi.json")
_ERROR = {"$ref": "#/components/schemas/ErrorBody"}
_REQUEST_ID_HEADER = {
    "description": "The request id (echoes a well-formed X-Request-Id, else a new one).",
    "schema": {"type": "string"},
}
_RETRY_AFTER_HEADER = {"description": "Seconds to wait.", "schema": {"type": "integer"}}
_ERROR_TEXT = {
    400: "invalid_json or idempotency_key_required",
    401: "unauthorized: missing, malformed, expired or badly signed token",
    403: "forbidden",
    404: "not_found (also another user's resource)",
    405: "method_not_allowed",
    409: "idempotency_key_reused, account_inactive or invalid_state",
    413: "payload_too_large",
    422: "validation_failed (details: [{field, message}]) or a ledger refusal: "
    "insufficient_funds, currency_mismatch, same_account, limit_exceeded, "
    "amount_exceeds_payoff",
    429: "rate_limited",
    500: "internal",
    503: "upstream_unavailable",
}
_ERROR_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}}},
    405: {"Allow": {"schema": {"type": "string"}}},
    429: {"Retry-After": _RETRY_AFTER_HEADER},
    503: {"Retry-After": _RETRY_AFTER_HEADER},
}
_AUTH_ERRORS = (401,)
_ALWAYS_ERRORS = (500, 503)

# (method, path, function, summary, auth, request model, query model, success, response model,
#  extra error statuses, needs Idempotency-Key)
_OPERATIONS: tuple[tuple[Any, ...], ...] = (
    ("get", "/accounts", "accounts", "The caller's accounts", "user", None, None,
     200, "AccountList", (), False),
    ("post", "/accounts", "accounts", "Open an account", "user", "AccountCreate", None,
     201, "AccountPublic", (400, 413, 422, 429), False),
    ("get", "/accounts/{account_id}", "accounts", "One account", "user", None, None,
     200, "AccountPublic", (404,), False),
    ("patch", "/accounts/{account_id}", "accounts", "Rename an account", "user",
     "AccountUpdate", None, 200, "AccountPublic", (400, 404, 409, 413, 422), False),
    ("get", "/accounts/{account_id}/transactions", "accounts",
     "Entries, newest first, keyset-paged", "user", None, "TransactionsQuery",
     200, "EntryPage", (404, 422), False),
    ("get", "/accounts/{account_id}/statement", "accounts",
     "Monthly CSV statement (UTC month): opening balance, entries oldest first, closing "
     "balance; at most 10,000 entries (422 limit_exceeded beyond)", "user", None,
     "StatementQuery", 200, "csv", (404, 422), False),
    ("post", "/transfers", "transfers", "Move money between two accounts", "user",
     "TransferCreate", None, 201, "TransferPublic", (400, 404, 409, 413, 422, 429), True),
    ("get", "/transfers/{transfer_id}", "transfers", "A transfer the caller is a party to",
     "user", None, None, 200, "TransferPublic", (404,), False),
    ("post", "/admin/deposits", "admin", "Cash in (staff)", "admin", "AdminCashMovement",
     None, 201, "TransferPublic", (400, 403, 404, 409, 413, 422, 429), True),
    ("post", "/admin/withdrawals", "admin", "Cash out (staff)", "admin", "AdminCashMovement",
     None, 201, "TransferPublic", (400, 403, 404, 409, 413, 422, 429), True),
    ("post", "/admin/accounts/{account_id}/freeze", "admin", "Freeze an account (staff)",
     "admin", None, None, 200, "AccountPublic", (403, 404, 409), False),
    ("post", "/admin/accounts/{account_id}/unfreeze", "admin", "Unfreeze an account (staff)",
     "admin", None, None, 200, "AccountPublic", (403, 404, 409), False),
    ("get", "/health", "health", "Whether PostgREST answers", "none", None, None,
     200, "HealthPublic", (), False),
    ("post", "/loans", "loans", "Apply for a loan (pending, with the schedule it would have); "
     "without product_id, the currency's default product; at most 5 pending and 20 a day "
     "per borrower", "user", "LoanCreate", None,
     201, "LoanPublic", (400, 404, 409, 413, 422, 429), False),
    ("get", "/loans", "loans", "The caller's loans, newest first, each with its schedule",
     "user", None, None, 200, "LoanList", (), False),
    ("get", "/loans/{loan_id}", "loans", "One loan with its schedule", "user", None, None,
     200, "LoanPublic", (404,), False),
    ("post", "/loans/{loan_id}/repayments", "loans",
     "Repay: past-due interest, past-due principal, the current installment, then "
     "prepayment of principal from the last installment (the term shortens); more than "
     "the payoff amount is refused (422 amount_exceeds_payoff); shares the per-user "
     "money-movement rate limit with transfers (429)", "user", "RepaymentCreate",
     None, 201, "RepaymentPublic", (400, 404, 409, 413, 422, 429), True),
    ("post", "/loans/{loan_id}/withdraw", "loans",
     "Withdraw a pending application (409 invalid_state otherwise)", "user", None, None,
     200, "LoanPublic", (404, 409), False),
    ("get", "/loans/{loan_id}/payoff", "loans",
     "What pays the loan off on a date: principal owed, interest due by then and the "
     "running month's interest accrued 30E/360", "user", None, "LoanPayoffQuery",
     200, "PayoffPublic", (404, 409, 422), False),
    ("post", "/admin/loans/{loan_id}/approve", "admin",
     "Approve a pending loan and disburse its principal (staff; exactly once)", "admin",
     None, None, 200, "LoanPublic", (403, 404, 409, 422), False),
    ("post", "/admin/loans/{loan_id}/reject", "admin",
     "Reject a pending loan, with an optional reason (staff)", "admin", "LoanDecision",
     None, 200, "LoanPublic", (400, 403, 404, 409, 413, 422), False),
    ("post", "/admin/loans/{loan_id}/write-off", "admin",
     "Write off an active or overdue loan's principal as a loss (staff)", "admin",
     "LoanDecision", None, 200, "LoanPublic", (400, 403, 404, 409, 413, 422), False),
)  # fmt: skip


def _schemas() -> tuple[dict[str, Any], dict[str, Any]]:
    """Component schemas of every model, and the query models' properties by name."""
    from pydantic.json_schema import models_json_schema

    from functions._core import _loan_models, _models

    models: list[tuple[type[BaseModel], Literal["validation"]]] = [
        (getattr(module, name), "validation")
        for module in (_models, _loan_models)
        for name in module.__all__
        if name[0].isupper() and not name.isupper()
    ]
    _, top = models_json_schema(models, ref_template="#/components/schemas/{model}")
    schemas: dict[str, Any] = top["$defs"]
    query_models = ("TransactionsQuery", "StatementQuery", "LoanPayoffQuery")
    queries = {name: schemas.pop(name) for name in query_models}
    return schemas, queries


def _parameters(path: str, query: dict[str, Any] | None, idempotent: bool) -> list[Any]:
    found: list[Any] = []
    for segment in path.split("/"):
        if segment.startswith("{"):
            uuid = {"type": "string", "format": "uuid"}
            found.append({"name": segment[1:-1], "in": "path", "required": True, "schema": uuid})
    for name, schema in (query or {}).get("properties", {}).items():
        required = name in (query or {}).get("required", [])
        found.append({"name": name, "in": "query", "required": required, "schema": schema})
    if idempotent:
        key = {"type": "string", "pattern": r"^[A-Za-z0-9_.:-]{1,255}$"}
        found.append({
            "name": "Idempotency-Key", "in": "header", "required": True, "schema": key,
            "description": "Same key and request: the first answer again (a success or a "
            "refusal), with Idempotent-Replayed: true. Same key, other request: 409 "
            "idempotency_key_reused.",
        })  # fmt: skip
    found.append({"name": "X-Request-Id", "in": "header", "required": False,
                  "schema": {"type": "string"}, "description": "Echoed in the answer's "
                  "X-Request-Id when it is 1 to 64 characters of A-Z a-z 0-9 . _ -; any "
                  "other value is replaced by a new id, never refused."})  # fmt: skip
    return found


def _success(status: int, model: str, idempotent: bool) -> dict[str, Any]:
    headers: dict[str, Any] = {"X-Request-Id": _REQUEST_ID_HEADER}
    if idempotent:
        headers["Idempotent-Replayed"] = {
            "description": "true when this is the stored answer to an earlier identical call",
            "schema": {"type": "string", "enum": ["true"]},
        }
    if model == "csv":
        content = {"text/csv": {"schema": {"type": "string"}}}
    else:
        content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}}
    return {str(status): {"description": "OK", "headers": headers, "content": content}}


def _errors(statuses: tuple[int, ...]) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for status in sorted(set(statuses)):
        headers = {"X-Request-Id": _REQUEST_ID_HEADER, **_ERROR_HEADERS.get(status, {})}
        answers[str(status)] = {
            "description": _ERROR_TEXT[status],
            "headers": headers,
            "content": {"application/json": {"schema": _ERROR}},
        }
    return answers


def _operation_id(method: str, path: str) -> str:
    return method + "_" + re.sub(r"[^a-z_]", "", path.strip("/").replace("/", "_"))


def _operation(spec: tuple[Any, ...], queries: dict[str, Any]) -> dict[str, Any]:
    method, path, tag, summary, auth, body, query, status, model, errors, idempotent = spec
    statuses = (*errors, *_ALWAYS_ERRORS, *(_AUTH_ERRORS if auth != "none" else ()))
    operation: dict[str, Any] = {
        "tags": [tag],
        "summary": summary,
        "operationId": _operation_id(method, path),
        "parameters": _parameters(path, queries.get(query) if query else None, idempotent),
        "responses": {**_success(status, model, idempotent), **_errors(statuses)},
        "security": [] if auth == "none" else [{"bearerAuth": []}],
    }
    if body:
        schema = {"$ref": f"#/components/schemas/{body}"}
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    return operation


def build_document() -> dict[str, Any]:
    schemas, queries = _schemas()
    paths: dict[str, Any] = {}
    for spec in _OPERATIONS:
        paths.setdefault(spec[1], {})[spec[0]] = _operation(spec, queries)
    paths["/openapi.json"] = {"get": {
        "tags": ["meta"], "summary": "This document", "operationId": "get_openapi",
        "security": [], "responses": {"200": {"description": "OpenAPI 3.1",
                                              "content": {"application/json": {}}}},
    }}  # fmt: skip
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ledgerbase functions",
            "version": "0.1.0",
            "description": "Accounts, transfers and staff operations in front of a Supabase "
            "ledger. Amounts are decimal strings in major units. Errors: "
            '{"error": {"code", "message", "details", "request_id"}}.',
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


def render() -> str:
    return json.dumps(build_document(), indent=2, sort_keys=False, ensure_ascii=False) + "\n"


@functools.cache
def _committed() -> bytes:
    return DOCUMENT_PATH.read_bytes()


async def serve_document(ctx: Context) -> Reply:
    return Reply(200, _committed())


ROUTES: tuple[Route, ...] = (route("GET", "/openapi.json", serve_document, auth="none"),)

if __name__ == "__main__":
    print(render(), end="")
