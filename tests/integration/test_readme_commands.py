"""The commands the README and the `make run` banner show run as written.

They are taken from the README and from the banner themselves, not copied here,
and run with bash against the test stack (`STACK_NAME=test` points
scripts/stack.py and the make targets at it), so an edit that breaks one of them
fails here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from decimal import Decimal
from typing import Any

import jwt
import pytest

from scripts.localstack import cli
from tests.conftest import ROOT, StackHandle

pytestmark = pytest.mark.integration

SEEDED_ALICE = "11111111-1111-4111-8111-111111111111"


def _bash(script: str, stack: StackHandle) -> subprocess.CompletedProcess[str]:
    # A user types these into a shell, not inside a running make: `make test` exports
    # MAKELEVEL and MAKEFLAGS, and a nested make then prints "Entering directory" lines
    # into output a user's `$(make -s token)` never sees.
    inherited = ("STACK_", "MAKE", "MFLAGS")
    env = {key: value for key, value in os.environ.items() if not key.startswith(inherited)}
    config = stack.config
    env.update(
        STACK_NAME="test",
        STACK_TEST_DB_PORT=str(config.db_port),
        STACK_TEST_REST_PORT=str(config.rest_port),
        STACK_TEST_FUNCTIONS_PORT=str(config.functions_port),
        STACK_TEST_GATEWAY_PORT=str(config.gateway_port),
    )
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _readme_block_after(marker: str) -> str:
    text = (ROOT / "README.md").read_text()
    found = re.search(re.escape(marker) + r".*?\n```sh\n(.*?)```", text, re.DOTALL)
    assert found, f"the README has no sh block after {marker!r}"
    return found.group(1)


def test_the_readmes_client_commands_run_as_written(stack: StackHandle) -> None:
    script = _readme_block_after("Run them by hand against `make run`:")
    result = _bash(script, stack)
    assert result.returncode == 0, result.stdout + result.stderr
    printed = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(printed) == 2, result.stdout  # one line from each example
    for output in printed:
        table_ids = {row["id"] for row in output["table"]}
        function_ids = {account["id"] for account in output["function"]["data"]}
        assert table_ids == function_ids
        assert len(table_ids) == 3  # alice's seeded accounts


def test_the_banners_commands_run_as_written(stack: StackHandle) -> None:
    banner = cli.banner(stack.config, started=False)
    lines = [line.strip() for line in banner.split("\nTry:\n", 1)[1].splitlines()]
    exports = "\n".join(line for line in lines if line.startswith("export "))
    commands = [line for line in lines if line and not line.startswith("export ")]
    assert len(commands) == 4, commands
    outputs = []
    for command in commands:
        result = _bash(f"{exports}\n{command}", stack)
        assert result.returncode == 0, command + result.stdout + result.stderr
        outputs.append(result.stdout.strip())
    health, functions_accounts, rest_accounts = (json.loads(out) for out in outputs[:3])
    assert health["status"] == "ok"
    assert {row["owner_id"] for row in rest_accounts} == {SEEDED_ALICE}
    assert {row["id"] for row in rest_accounts} == {
        account["id"] for account in functions_accounts["data"]
    }
    claims = jwt.decode(outputs[3], options={"verify_signature": False})
    assert claims["email"] == "staff@example.com"
    assert claims["app_metadata"]["role"] == "admin"


def _json_documents(text: str) -> list[Any]:
    """Every JSON document in `text`, as jq prints them one after another."""
    decoder, documents, at = json.JSONDecoder(), [], 0
    while (at := _skip_space(text, at)) < len(text):
        document, at = decoder.raw_decode(text, at)
        documents.append(document)
    return documents


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at].isspace():
        at += 1
    return at


def test_the_readmes_walkthrough_runs_as_written(stack: StackHandle) -> None:
    script = _readme_block_after("### A walkthrough: a transfer, a statement, a loan")
    result = _bash(script, stack)
    assert result.returncode == 0, result.stdout + result.stderr
    # The statement is CSV between the JSON answers; everything else is jq's JSON.
    csv_start = result.stdout.index("row_type,")
    csv_end = result.stdout.index("\n", result.stdout.index("\nclosing_balance,", csv_start) + 1)
    statement = result.stdout[csv_start:csv_end]
    documents = _json_documents(result.stdout[:csv_start] + result.stdout[csv_end:])
    transfer, pending, loan, repayment, payoff = documents
    assert transfer["status"] == "posted", transfer
    assert (transfer["amount"], transfer["currency"]) == ("25.00", "USD")
    assert f"{transfer['id']},,a1000000-0000-4000-8000-000000000002,-25.00," in statement
    assert loan["id"] in {row["id"] for row in pending}, pending
    assert loan["status"] == "active", loan
    assert (loan["principal"], loan["currency"]) == ("1000.00", "USD")
    assert repayment["loan"]["id"] == loan["id"], repayment
    assert repayment["transfer"]["amount"] == "100.00", repayment
    assert payoff["currency"] == "USD", payoff
    assert Decimal(payoff["amount"]) == Decimal(repayment["loan"]["outstanding_principal"])
