"""The OpenAPI 3.1 document of every function, built from the routes each declares.

Each function's `ROUTES` gives the operations (summary, models, the error codes it
answers with); the error responses' statuses, headers and descriptions come from the
error table (`core/_error_table.py`). `python -m functions.openapi >
functions/openapi.json` regenerates the committed file (`make openapi`); a unit test
fails when it is stale. The router serves the committed file at `GET /openapi.json`,
read once, so serving it costs nothing.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from functions.core import (
    ERROR_TABLE,
    Context,
    ErrorBody,
    Reply,
    Route,
    kind_of,
    render_doc,
    render_sql,
    route,
)

__all__ = ["DOCUMENT_PATH", "ROUTES", "build_document", "render"]

DOCUMENT_PATH = Path(__file__).with_name("openapi.json")
_ERROR = {"$ref": "#/components/schemas/ErrorBody"}
_REQUEST_ID_HEADER = {
    "description": "The request id (echoes a well-formed X-Request-Id, else a new one).",
    "schema": {"type": "string"},
}
_HEADER_SCHEMAS: dict[str, dict[str, Any]] = {
    "WWW-Authenticate": {"schema": {"type": "string"}},
    "Allow": {"schema": {"type": "string"}},
    "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}},
}
# Every operation may fail in these ways, whatever it declares.
_ALWAYS_ERRORS = ("internal", "upstream_unavailable")
_AUTH_ERRORS: dict[str, tuple[str, ...]] = {
    "none": (),
    "user": ("unauthorized",),
    "admin": ("unauthorized", "forbidden"),
}


def _feature_routes() -> dict[str, tuple[Route, ...]]:
    """Each function's routes by its name, the operations' tag."""
    from functions import accounts, admin, health, loans, transfers, webhooks

    modules = (accounts, transfers, admin, health, loans, webhooks)
    return {module.__name__.rsplit(".", 1)[1]: module.ROUTES for module in modules}


def _schemas(routes: tuple[Route, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Component schemas of every model the routes name (and the models those nest), and
    the query models' properties by name."""
    from pydantic.json_schema import models_json_schema

    named: set[type[BaseModel]] = {ErrorBody}
    for spec in routes:
        for model in (spec.body, spec.query, spec.response):
            if model is not None and model != "csv":
                named.add(model)
    ordered = sorted(named, key=lambda model: model.__name__)
    models: list[tuple[type[BaseModel], Literal["validation"]]] = [
        (model, "validation") for model in ordered
    ]
    _, top = models_json_schema(models, ref_template="#/components/schemas/{model}")
    schemas: dict[str, Any] = top["$defs"]
    queries = {
        spec.query.__name__: schemas.pop(spec.query.__name__) for spec in routes if spec.query
    }
    return schemas, queries


def _parameters(spec: Route, query: dict[str, Any] | None) -> list[Any]:
    path, idempotent = spec.template, spec.idempotent
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
    if spec.webhook:
        found.append({
            "name": "Stripe-Signature", "in": "header", "required": True,
            "schema": {"type": "string", "maxLength": 4096},
            "description": "t=<unix time>,v1=<HMAC-SHA256 of `t.body`>, as Stripe signs; "
            "any configured secret verifies it, within 300 s.",
        })  # fmt: skip
    found.append({"name": "X-Request-Id", "in": "header", "required": False,
                  "schema": {"type": "string"}, "description": "Echoed in the answer's "
                  "X-Request-Id when it is 1 to 64 characters of A-Z a-z 0-9 . _ -; any "
                  "other value is replaced by a new id, never refused."})  # fmt: skip
    return found


def _success(spec: Route) -> dict[str, Any]:
    headers: dict[str, Any] = {"X-Request-Id": _REQUEST_ID_HEADER}
    if spec.idempotent:
        headers["Idempotent-Replayed"] = {
            "description": "true when this is the stored answer to an earlier identical call",
            "schema": {"type": "string", "enum": ["true"]},
        }
    if spec.response == "csv":
        content = {"text/csv": {"schema": {"type": "string"}}}
    else:
        assert spec.response is not None, f"{spec.template} declares no response model"
        ref = f"#/components/schemas/{spec.response.__name__}"
        content = {"application/json": {"schema": {"$ref": ref}}}
    return {str(spec.success): {"description": "OK", "headers": headers, "content": content}}


def _error_codes(spec: Route) -> set[str]:
    """Every code the operation may answer with: declared, and implied by its shape."""
    codes = {*spec.errors, *_ALWAYS_ERRORS, *_AUTH_ERRORS[spec.auth]}
    if "{" in spec.template:
        # A malformed path id, and a well-formed one naming nothing the caller may see.
        codes |= {"validation_failed", "not_found"}
    if spec.body is not None:
        codes |= {"invalid_json", "payload_too_large", "validation_failed"}
    if spec.query is not None:
        codes.add("validation_failed")
    if spec.idempotent:
        codes |= {"idempotency_key_required", "idempotency_key_reused", "validation_failed"}
    return codes


def _errors(codes: set[str]) -> dict[str, Any]:
    """One response per status; its description lists every code the table gives it."""
    answers: dict[str, Any] = {}
    for status in sorted({kind_of(code).status for code in codes}):
        kinds = [kind for kind in ERROR_TABLE if kind.status == status]
        headers = {"X-Request-Id": _REQUEST_ID_HEADER}
        headers |= {name: _HEADER_SCHEMAS[name] for kind in kinds for name in kind.headers}
        answers[str(status)] = {
            "description": "; ".join(f"{kind.code}: {kind.meaning}" for kind in kinds),
            "headers": headers,
            "content": {"application/json": {"schema": _ERROR}},
        }
    return answers


def _operation_id(method: str, path: str) -> str:
    return method + "_" + re.sub(r"[^a-z_]", "", path.strip("/").replace("/", "_"))


def _operation(tag: str, spec: Route, queries: dict[str, Any]) -> dict[str, Any]:
    method = spec.method.lower()
    query = queries[spec.query.__name__] if spec.query else None
    operation: dict[str, Any] = {
        "tags": [tag],
        "summary": spec.summary,
        "operationId": _operation_id(method, spec.template),
        "parameters": _parameters(spec, query),
        "responses": {**_success(spec), **_errors(_error_codes(spec))},
        "security": [] if spec.auth == "none" else [{"bearerAuth": []}],
    }
    if spec.body is not None:
        schema = {"$ref": f"#/components/schemas/{spec.body.__name__}"}
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    return operation


def build_document() -> dict[str, Any]:
    by_function = _feature_routes()
    schemas, queries = _schemas(tuple(spec for specs in by_function.values() for spec in specs))
    paths: dict[str, Any] = {}
    for tag, specs in by_function.items():
        for spec in specs:
            operation = _operation(tag, spec, queries)
            paths.setdefault(spec.template, {})[spec.method.lower()] = operation
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


ROUTES: tuple[Route, ...] = (
    route("GET", "/openapi.json", serve_document, auth="none", summary="This document",
          response=None),
)  # fmt: skip

if __name__ == "__main__":
    # `errors` prints docs/errors.md and `sql` the SQL's status view, both generated from the
    # same error table as the document.
    outputs = {"errors": render_doc, "sql": render_sql}
    print(outputs.get(" ".join(sys.argv[1:]), render)(), end="")
