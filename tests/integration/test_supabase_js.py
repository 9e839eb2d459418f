"""supabase-js, on Node, plays a web frontend against the test stack's gateway.

The JavaScript tests live in tests/js/ and run under `node --test`; this test
prepares their users and accounts, runs them with the stack's URL, anon key and
tokens in the environment, and fails with Node's own report when any of them
fails, so `make test` and pytest's summary cover them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from tests import conftest
from tests.conftest import ROOT, StackHandle
from tests.integration.loans_support import deposit, open_account

pytestmark = pytest.mark.integration


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("the supabase-js tests need Node.js 20 or later (and `make install`)")
    if not (ROOT / "node_modules" / "@supabase" / "supabase-js").exists():
        pytest.fail("@supabase/supabase-js is not installed: run `make install`")
    return node


def test_supabase_js_reads_accounts_calls_transfer_funds_and_a_function(
    stack: StackHandle,
    make_user: Callable[..., conftest.TestUser],
    pg: psycopg.Connection[Any],
) -> None:
    node = _node()
    alice, bob = make_user(), make_user()
    alice_account, bob_account = open_account(pg, alice.id), open_account(pg, bob.id)
    deposit(pg, alice_account, 10_000)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "SUPABASE_URL": stack.api_url,
        "SUPABASE_ANON_KEY": stack.anon_key,
        "ALICE_ID": alice.id,
        "ALICE_TOKEN": alice.token,
        "ALICE_ACCOUNT": alice_account,
        "BOB_TOKEN": bob.token,
        "BOB_ACCOUNT": bob_account,
    }
    result = subprocess.run(
        [node, "--test", "--test-reporter=tap", "tests/js/"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    # Every test of the file ran and passed: none was skipped or left out by a filter.
    assert "\n# pass 7\n" in report, report
    assert "\n# fail 0\n" in report, report
