"""The README's client examples run as written against the stack's gateway.

examples/client.py (supabase-py) and examples/client.mjs (supabase-js) get only
what a frontend gets, SUPABASE_URL, the anon key and a user's token, and must
print the user's accounts as the table API and the `accounts` function give them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from tests import conftest
from tests.conftest import ROOT, StackHandle
from tests.integration.loans_support import deposit, open_account

pytestmark = pytest.mark.integration


@pytest.fixture
def customer(
    make_user: Callable[..., conftest.TestUser], pg: psycopg.Connection[Any]
) -> tuple[conftest.TestUser, list[str]]:
    user = make_user()
    accounts = [open_account(pg, user.id), open_account(pg, user.id, "EUR")]
    deposit(pg, accounts[0], 4_250)
    return user, accounts


def _run(argv: list[str], stack: StackHandle, token: str) -> dict[str, Any]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "SUPABASE_URL": stack.api_url,
        "SUPABASE_ANON_KEY": stack.anon_key,
        "ACCESS_TOKEN": token,
    }
    result = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return dict(json.loads(result.stdout))


def _check(printed: dict[str, Any], accounts: list[str]) -> None:
    assert [row["id"] for row in printed["table"]] == accounts
    assert printed["table"][0] == {"id": accounts[0], "currency": "USD", "balance": 4_250}
    listed = {account["id"]: account for account in printed["function"]["data"]}
    assert set(listed) == set(accounts)
    assert listed[accounts[0]]["balance"] == "42.50"


def test_the_python_example_prints_the_users_accounts(
    stack: StackHandle, customer: tuple[conftest.TestUser, list[str]]
) -> None:
    user, accounts = customer
    _check(_run([sys.executable, "examples/client.py"], stack, user.token), accounts)


def test_the_javascript_example_prints_the_users_accounts(
    stack: StackHandle, customer: tuple[conftest.TestUser, list[str]]
) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("the JavaScript example needs Node.js 20 or later")
    user, accounts = customer
    _check(_run([node, "examples/client.mjs"], stack, user.token), accounts)
