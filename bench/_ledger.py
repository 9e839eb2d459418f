"""Bench users for the ledger scenarios: users, funded accounts, tokens.

Made by sql/bench/setup.sql, the same script a hand run uses: `auth.users`
rows, one checking account each opened through `public.open_account` as that
user (the JWT claims and role set as PostgREST sets them), funded through
`public.admin_deposit` as `postgres` (the dashboard's role). This module adds
what only Python needs: each user's access token, for the HTTP scenarios.

The ledger's limits (transfers per minute, daily outgoing amount) are per
currency, not per user. `make bench` therefore moves its money in XTS, ISO
4217's code reserved for testing, added with limits no run reaches, so the
load measures transfers rather than refusals while USD keeps its limits as
shipped; the smoke test stays in USD, far below them. The pgbench script finds
an account and its owner's claims by number in `bench_fixture.accounts`, a
schema PostgREST does not expose.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._database import psql, query_rows
from scripts import localstack

ROOT = Path(__file__).resolve().parent.parent
LEDGER_SCRIPT = ROOT / "sql" / "bench" / "transfer_funds.sql"
SETUP_SCRIPT = ROOT / "sql" / "bench" / "setup.sql"


@dataclass(frozen=True)
class BenchAccount:
    number: int
    user_id: str
    account_id: str
    token: str


@dataclass(frozen=True)
class Fixture:
    accounts: list[BenchAccount]
    currency: str


def missing(stack: Any) -> str:
    rows = query_rows(
        stack,
        "select string_agg(name, ', ') from unnest(array['transfer_funds', 'open_account']) "
        "as name where to_regproc('public.' || name) is null",
    )
    names = rows[0][0] if rows and rows[0] else ""
    if names:
        return f"public.{names} not in the database yet"
    if not LEDGER_SCRIPT.exists():
        return f"{LEDGER_SCRIPT.relative_to(ROOT)} does not exist yet"
    return ""


def prepare(stack: Any, count: int, currency: str) -> Fixture:
    psql(stack, "-f", str(SETUP_SCRIPT), variables={"accounts": count, "currency": currency})
    found = query_rows(
        stack, "select n, user_id, account_id, email, claims from bench_fixture.accounts order by n"
    )
    accounts = []
    for number, user_id, account_id, email, claims in found:
        record = {
            "id": user_id,
            "email": email,
            "app_metadata": json.loads(claims)["app_metadata"],
            "user_metadata": {},
        }
        token = localstack.mint_token(stack, record, lifetime_seconds=6 * 3600)
        accounts.append(BenchAccount(int(number), user_id, account_id, token))
    return Fixture(accounts=accounts, currency=currency)


def count_transfers(stack: Any, currency: str) -> int:
    """Customer transfers committed so far in `currency`: what a run really moved."""
    sql = (
        f"select count(*) from public.transfers where kind = 'transfer' and currency = '{currency}'"
    )
    return int(query_rows(stack, sql)[0][0])


def settle(stack: Any) -> None:
    """Fold every pending credit into entries, as pg_cron does every few seconds in a
    deployment (README.md, Deploy; supabase/schemas/40_transfers.sql). Run between
    scenarios, outside any measured window: without it the hot runs leave tens of
    thousands of credits on the hot account, and the next run's first debit of that
    account settles them all in one slow request, which at one client wrk's
    coordinated-omission correction turns into a p99 of whole seconds (bench/README.md
    has the figures)."""
    psql(stack, "-c", "select public.settle_pending_credits()")


def pgbench_script(fixture: Fixture) -> tuple[Path, dict[str, str | int]]:
    """The ledger's own script (sql/bench/transfer_funds.sql), on this fixture."""
    return LEDGER_SCRIPT, {"accounts": len(fixture.accounts), "currency": fixture.currency}


def cleanup(stack: Any) -> None:
    """Drop the lookup table (the bench users and their ledger rows stay, as any user's would)."""
    psql(stack, "-c", "drop schema if exists bench_fixture cascade")
