"""Schemathesis against the running functions: every operation of functions/openapi.json.

Each operation gets CI-sized batches of generated requests, valid and invalid
by the document, sent by three callers: nobody (no token), a customer and
staff. Whatever it sends, the functions must never answer 5xx, and every answer
must be one the document describes: a listed status, its content type, its
headers, and a body that matches its schema (the error envelope for every
refusal). Path ids are random UUIDs, so most calls that get past validation
end at "not found"; what this test hunts is input that slips past validation
and breaks something behind it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import ROOT, StackHandle, stack_module

pytestmark = pytest.mark.integration

EXAMPLES_PER_OPERATION = 15
# Requests sent, reported at the end of the module (run with -s to see the count).
SENT = {"requests": 0}

SCHEMA = schemathesis.openapi.from_path(ROOT / "functions" / "openapi.json")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture(scope="module")
def tokens(stack: StackHandle) -> dict[str, str | None]:
    found: dict[str, str | None] = {"anonymous": None}
    for role in ("customer", "admin"):
        email = f"fuzz-{role}@example.com"
        record = stack_module.create_user(stack.config, email, admin=role == "admin")
        found[role] = stack_module.mint_token(stack.config, record)
    return found


@pytest.fixture(scope="module", autouse=True)
def report_count() -> Iterator[None]:
    yield
    print(f"\nschemathesis sent {SENT['requests']} requests")


@pytest.mark.parametrize("caller", ["anonymous", "customer", "admin"])
@SCHEMA.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_request_gets_a_5xx_or_an_undocumented_answer(
    case: Any, caller: str, tokens: dict[str, str | None], stack: StackHandle
) -> None:
    headers = {}
    token = tokens[caller]
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    SENT["requests"] += 1
    if _breaks_the_framework_route(case):
        # functions-framework routes every function as Starlette's "/{path:path}", whose
        # pattern stops at a line break: such a path is answered by Starlette's own
        # plain-text 404 before any code of ours runs. It names nothing, so 404 is right.
        response = case.call(base_url=stack.functions_url, headers=headers)
        assert response.status_code == 404
        return
    case.call_and_validate(base_url=stack.functions_url, headers=headers, checks=CHECKS)


def _breaks_the_framework_route(case: Any) -> bool:
    return "\n" in unquote(case.formatted_path)
