"""Bench users for the ledger scenarios: users, funded accounts, tokens.

Made in SQL in one go, as the platform would: `auth.users` rows, one checking
account each opened through `public.open_account` as that user (the JWT
claims set as PostgREST sets them), funded through `public.admin_deposit` as
`postgres` (the dashboard's role), or, where that RPC does not exist, given an
overdraft limit no run can exhaust (an edit staff may make from the dashboard).
sql/bench/setup.sql builds the same fixture for running the ledger's pgbench
script by hand.

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
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import _stack
from bench._database import psql, query_rows

ROOT = Path(__file__).resolve().parent.parent
LEDGER_SCRIPT = ROOT / "sql" / "bench" / "transfer_funds.sql"
FUNDING = "1000000.00"  # major units per account: no bench run can drain it at 0.01 a time
BENCH_CURRENCY = (
    "insert into public.currencies (code, exponent, name, max_transfer_minor, "
    "daily_outgoing_limit_minor, transfers_per_minute) "
    "values ('XTS', 2, 'Benchmark money (ISO 4217 testing code)', 100000000, "
    "900000000000000000, 1000000000) on conflict (code) do nothing"
)


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


def _claims(user_id: str, email: str) -> dict[str, Any]:
    return {
        "sub": user_id,
        "role": "authenticated",
        "aud": "authenticated",
        "email": email,
        "app_metadata": {"provider": "email", "providers": ["email"]},
        "user_metadata": {},
    }


def prepare(stack: Any, count: int, currency: str) -> Fixture:
    if currency == "XTS":
        psql(stack, "-c", BENCH_CURRENCY)
    tag = uuid.uuid4().hex[:8]
    users = [(str(uuid.uuid4()), f"bench-{tag}-{n}@bench.example") for n in range(1, count + 1)]
    rows = "\n".join(
        f"{n}\t{user_id}\t{email}\t{json.dumps(_claims(user_id, email))}"
        for n, (user_id, email) in enumerate(users, start=1)
    )
    sql = _SETUP_SQL.replace("@ROWS@", rows).replace("@CURRENCY@", currency)
    psql(stack, input=sql)
    _fund(stack, currency)
    found = query_rows(
        stack, "select n, user_id, account_id from bench_fixture.accounts order by n"
    )
    stack_module = _stack.load()
    accounts = []
    for (number, user_id, account_id), (_, email) in zip(found, users, strict=True):
        record = {
            "id": user_id,
            "email": email,
            "app_metadata": _claims(user_id, email)["app_metadata"],
            "user_metadata": {},
        }
        token = stack_module.mint_token(stack, record, lifetime_seconds=6 * 3600)
        accounts.append(BenchAccount(int(number), user_id, account_id, token))
    return Fixture(accounts=accounts, currency=currency)


def _fund(stack: Any, currency: str) -> None:
    """Deposit through the ledger when it can; else an overdraft limit no run can exhaust."""
    if query_rows(stack, "select to_regproc('public.admin_deposit') is not null")[0][0] == "t":
        sql = (
            f"select count(public.admin_deposit(account_id, {FUNDING}, '{currency}', "
            "'bench funding', 'bench-funding-' || account_id::text)) from bench_fixture.accounts"
        )
    else:
        sql = (
            "update public.accounts set overdraft_limit = 100000000 "
            "where id in (select account_id from bench_fixture.accounts)"
        )
    psql(stack, "-c", sql)


def count_transfers(stack: Any, currency: str) -> int:
    """Customer transfers committed so far in `currency`: what a run really moved."""
    sql = (
        f"select count(*) from public.transfers where kind = 'transfer' and currency = '{currency}'"
    )
    return int(query_rows(stack, sql)[0][0])


def settle(stack: Any) -> None:
    """Fold every pending credit into entries, as pg_cron does every few seconds in a
    deployment (migration 20261123000700). Run between scenarios, outside any measured
    window: without it the hot runs leave tens of thousands of credits on the hot
    account, and the next run's first debit of that account settles them all in one
    request of about a second, which at one client wrk's coordinated-omission
    correction turns into a p99 of 0.6-1.4 s."""
    psql(stack, "-c", "select public.settle_pending_credits()")


def pgbench_script(fixture: Fixture) -> tuple[Path, dict[str, str | int]]:
    """The ledger's own script (sql/bench/transfer_funds.sql), on this fixture."""
    return LEDGER_SCRIPT, {"accounts": len(fixture.accounts), "currency": fixture.currency}


def cleanup(stack: Any) -> None:
    """Drop the lookup table (the bench users and their ledger rows stay, as any user's would)."""
    psql(stack, "-c", "drop schema if exists bench_fixture cascade")


_SETUP_SQL = r"""
begin;
create schema if not exists bench_fixture;
revoke all on schema bench_fixture from public;
drop table if exists bench_fixture.accounts;
create table bench_fixture.accounts (
  n integer primary key,
  user_id uuid not null,
  email text not null,
  claims text not null,
  account_id uuid
);
copy bench_fixture.accounts (n, user_id, email, claims) from stdin;
@ROWS@
\.
insert into auth.users (instance_id, id, aud, role, email, email_confirmed_at,
                        raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
select '00000000-0000-0000-0000-000000000000', user_id, 'authenticated', 'authenticated',
       email, now(), (claims::jsonb) -> 'app_metadata', '{}'::jsonb, now(), now()
  from bench_fixture.accounts;

do $$
declare
  r record;
  opened jsonb;
begin
  for r in select n, claims from bench_fixture.accounts order by n loop
    perform set_config('request.jwt.claims', r.claims, true);
    perform set_config('role', 'authenticated', true);
    opened := public.open_account('@CURRENCY@', 'checking', 'bench');
    perform set_config('role', 'postgres', true);
    update bench_fixture.accounts set account_id = (opened ->> 'id')::uuid where n = r.n;
  end loop;
  perform set_config('request.jwt.claims', '', true);
end;
$$;

-- The hot scenarios credit account 1: flag it for deferred credits (ledger migration 000700).
update public.accounts set deferred_credits = true
 where id = (select account_id from bench_fixture.accounts where n = 1);

commit;
vacuum analyze bench_fixture.accounts;
"""
