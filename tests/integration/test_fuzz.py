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

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import httpx
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
SENT = {"requests": 0, "real_ids": 0}

SCHEMA = schemathesis.openapi.from_path(ROOT / "functions" / "openapi.json")
# The Authorization header is this test's to set (nobody, a customer, staff): cases
# that drop or garble it would be sent with the caller's token anyway and then judged
# as if they had not been.
SCHEMA.config.generation.update(with_security_parameters=False)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@dataclass(frozen=True)
class World:
    """The callers' tokens, and ids of real resources the customer owns."""

    tokens: dict[str, str | None]
    ids: dict[str, str]


@pytest.fixture(scope="module")
def world(stack: StackHandle) -> World:
    tokens: dict[str, str | None] = {"anonymous": None}
    for role in ("customer", "admin"):
        email = f"fuzz-{role}-{uuid.uuid4().hex[:8]}@example.com"
        record = stack_module.create_user(stack.config, email, admin=role == "admin")
        tokens[role] = stack_module.mint_token(stack.config, record)
    customer = {"Authorization": f"Bearer {tokens['customer']}"}
    staff = {"Authorization": f"Bearer {tokens['admin']}"}
    with httpx.Client(base_url=stack.functions_url, timeout=10) as http:

        def ok(response: httpx.Response, status: int) -> Any:
            assert response.status_code == status, response.text
            return response.json()

        def key() -> dict[str, str]:
            return {"Idempotency-Key": str(uuid.uuid4())}

        opened = [
            ok(
                http.post("/accounts", json={"currency": "USD", "kind": kind}, headers=customer),
                201,
            )
            for kind in ("checking", "savings")
        ]
        account, other = opened[0]["id"], opened[1]["id"]
        funding = {"account_id": account, "amount": "5000.00", "currency": "USD",
                   "reference": "fuzz funding"}  # fmt: skip
        ok(http.post("/admin/deposits", json=funding, headers={**staff, **key()}), 201)
        move = {"from_account_id": account, "to_account_id": other, "amount": "1.00",
                "currency": "USD"}  # fmt: skip
        transfer = ok(http.post("/transfers", json=move, headers={**customer, **key()}), 201)
        application = {"account_id": account, "principal": "1000.00", "currency": "USD",
                       "term_months": 12}  # fmt: skip
        loan = ok(http.post("/loans", json=application, headers=customer), 201)
        ok(http.post(f"/admin/loans/{loan['id']}/approve", headers=staff), 200)
    ids = {"account_id": account, "transfer_id": transfer["id"], "loan_id": loan["id"]}
    return World(tokens, ids)


def _with_real_ids(case: Any, ids: dict[str, str]) -> None:
    """Every other case aims at the customer's real resources instead of random ids.

    Only ids that are already well-formed UUIDs are swapped, so a case meant to send
    an invalid path parameter still sends it.
    """
    SENT["real_ids"] += 1
    if SENT["real_ids"] % 2:
        return
    for name, value in (case.path_parameters or {}).items():
        if name in ids and _is_uuid(value):
            case.path_parameters[name] = ids[name]


def _is_uuid(value: object) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


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
    # The same examples on every run, so `make test` never turns red by chance;
    # FUZZ_RANDOM=1 draws new ones for a longer hunt by hand.
    derandomize=os.environ.get("FUZZ_RANDOM") != "1",
)
def test_no_request_gets_a_5xx_or_an_undocumented_answer(
    case: Any, caller: str, world: World, stack: StackHandle
) -> None:
    headers = {}
    token = world.tokens[caller]
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
        _with_real_ids(case, world.ids)
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
