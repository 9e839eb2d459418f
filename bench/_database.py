"""psql against any database of the stack's cluster, and the bench databases.

The floor table and the minimal transfer live in a database of their own
(`bench`), and TPC-B in `bench_tpcb` (and `bench_tpcb_hot`, at scale 1), so
nothing the harness creates for the yardsticks ever sits beside the ledger in
the `postgres` database that migrations, advisors and tests look at.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from bench._pgbench import Target, initialise_tpcb

ROOT = Path(__file__).resolve().parent.parent
SQL_BENCH = ROOT / "sql" / "bench"
YARDSTICK_DB = "bench"
TPCB_DB = "bench_tpcb"
TPCB_HOT_DB = "bench_tpcb_hot"


class DatabaseError(Exception):
    """A psql command failed."""


def target_of(stack: Any) -> Target:
    return Target("127.0.0.1", stack.db_port, "postgres", stack.db_password)


def psql(
    stack: Any,
    *args: str,
    database: str = "postgres",
    input: str | None = None,
    variables: dict[str, str | int] | None = None,
) -> str:
    argv = [
        "psql",
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        "127.0.0.1",
        "-p",
        str(stack.db_port),
        "-U",
        "postgres",
        "-d",
        database,
        "-A",
        "-t",
        "-F",
        "\t",
    ]
    for name, value in (variables or {}).items():
        argv += ["-v", f"{name}={value}"]
    argv += list(args)
    env = {**os.environ, "PGPASSWORD": stack.db_password}
    result = subprocess.run(argv, env=env, input=input, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise DatabaseError(f"psql on {database} failed:\n{result.stderr.strip()[-3000:]}")
    return result.stdout


def query_rows(stack: Any, sql: str, *, database: str = "postgres") -> list[list[str]]:
    out = psql(stack, "-c", sql, database=database)
    return [line.split("\t") for line in out.splitlines() if line]


def recreate_database(stack: Any, name: str) -> None:
    psql(stack, "-c", f"drop database if exists {name} with (force)")
    psql(stack, "-c", f"create database {name}")


def prepare_yardsticks(stack: Any, *, floor_rows: int, minimal_accounts: int) -> None:
    """The floor table and the minimal transfer, in a fresh `bench` database."""
    recreate_database(stack, YARDSTICK_DB)
    floor = f"""
      create schema bench_floor;
      create table bench_floor.counters (id integer primary key, n bigint not null default 0);
      insert into bench_floor.counters (id) select g from generate_series(1, {floor_rows}) g;
      vacuum analyze bench_floor.counters;
    """
    psql(stack, database=YARDSTICK_DB, input=floor)
    psql(
        stack,
        "-f",
        str(SQL_BENCH / "minimal_setup.sql"),
        database=YARDSTICK_DB,
        variables={"accounts": minimal_accounts},
    )


def prepare_tpcb(stack: Any, *, scale: int) -> None:
    """TPC-B at `scale` for uniform access, and at scale 1 (one branch row) for the hot case."""
    for name, size in ((TPCB_DB, scale), (TPCB_HOT_DB, 1)):
        recreate_database(stack, name)
        initialise_tpcb(target_of(stack), name, size)


def drop_bench_databases(stack: Any) -> None:
    for name in (YARDSTICK_DB, TPCB_DB, TPCB_HOT_DB):
        psql(stack, "-c", f"drop database if exists {name} with (force)")


def server_settings(stack: Any) -> dict[str, str]:
    names = (
        "server_version",
        "fsync",
        "synchronous_commit",
        "shared_buffers",
        "wal_level",
        "max_connections",
        "full_page_writes",
        "commit_delay",
    )
    rows = query_rows(
        stack,
        "select name, setting || coalesce(' ' || unit, '') from pg_settings where name in ("
        + ", ".join(f"'{name}'" for name in names)
        + ")",
    )
    found = {row[0]: row[1] for row in rows}
    found["shared_buffers"] = psql(stack, "-c", "show shared_buffers").strip()
    return found
