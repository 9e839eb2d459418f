"""Ablation for transfer_funds: variants of the SQL measured in alternating rounds.

Each variant is a SQL file (`create or replace function ...`, `alter table ...`)
that puts the database in that variant's state, with an optional
`NAME.undo.sql` beside it run after its measurement (for tables: dropped
constraints, storage parameters); `-` is the schema as migrated (no file).
Every function of `private` is restored to its migrated definition before
each variant loads. In every round each variant is loaded and measured with the ledger's
own pgbench script (sql/bench/transfer_funds.sql, uniform pattern), in ABBA
order (the order is reversed every other round), so a drift of the shared
machine hits every variant alike. Reports tps and Postgres CPU per transfer
(the postgres process tree's CPU over the run divided by committed transfers,
bench/_measure.py) per round, then the median of each variant and its ratio to
the first. Runs on its own `bench` stack (STACK_BENCH_*_PORT), started fresh
and stopped at the end unless BENCH_KEEP_STACK=1.

    .venv/bin/python bench/ablate.py - variant.sql [--rounds 4] [--seconds 10] [--clients 8]

docs/decisions/0014-cheaper-transfer-funds.md records what was measured with it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import _database, _environment, _ledger, _pgbench  # noqa: E402
from bench._measure import Servers, measured  # noqa: E402
from bench.run import PORT_DEFAULTS  # noqa: E402
from scripts import localstack  # noqa: E402


def _load(stack: Any, variant: str, baseline: Path) -> None:
    _database.psql(stack, "-v", "ON_ERROR_STOP=1", "-q", "-f", str(baseline))
    if variant != "-":
        _database.psql(stack, "-v", "ON_ERROR_STOP=1", "-q", "-f", variant)


def _baseline_file(stack: Any, work: Path) -> Path:
    """The migrated definitions of everything a variant may replace, to undo it with."""
    text = _database.psql(
        stack,
        "-At",
        "-c",
        "select string_agg(pg_get_functiondef(p.oid) || ';', E'\\n') from pg_proc as p "
        "join pg_namespace as n on n.oid = p.pronamespace "
        "where n.nspname = 'private' and p.prokind = 'f'",
    )
    path = work / "baseline.sql"
    path.write_text(text + "\n")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+", help="SQL files; '-' is the schema as migrated")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--accounts", type=int, default=1000)
    args = parser.parse_args()
    for name, value in PORT_DEFAULTS.items():
        os.environ.setdefault(name, value)
    stack = localstack.Stack.from_env("bench")
    work = ROOT / "bench" / "results" / "tmp" / "ablate"
    work.mkdir(parents=True, exist_ok=True)
    localstack.reset(stack)
    localstack.up(stack, functions=False)
    try:
        fixture = _ledger.prepare(stack, args.accounts, "XTS")
        script, variables = _ledger.pgbench_script(fixture)
        baseline = _baseline_file(stack, work)
        servers = Servers.of(stack)
        print(f"load average at start: {_environment.load_average()}", flush=True)
        figures: dict[str, list[tuple[float, float]]] = {v: [] for v in args.variants}
        for round_number in range(args.rounds):
            order = args.variants if round_number % 2 == 0 else list(reversed(args.variants))
            for variant in order:
                _load(stack, variant, baseline)
                before = _ledger.count_transfers(stack, "XTS")

                def once() -> tuple[Any, float]:
                    return _pgbench.run(
                        _database.target_of(stack),
                        "postgres",
                        script=script,
                        variables={**variables, "hot": 0},
                        clients=args.clients,
                        seconds=args.seconds,
                        log_dir=work / "pgbench",
                        label="ablate",
                        max_tries=5,
                    )

                result = measured(servers, once)
                undo = Path(variant).with_suffix(".undo.sql")
                if variant != "-" and undo.exists():
                    _database.psql(stack, "-v", "ON_ERROR_STOP=1", "-q", "-f", str(undo))
                committed = _ledger.count_transfers(stack, "XTS") - before
                cpu_us = result.cpu_ms_per_tx["postgres"] * 1000 * result.transactions / committed
                tps = result.tps * committed / max(result.transactions, 1)
                figures[variant].append((tps, cpu_us))
                print(
                    f"round {round_number + 1} {variant}: {tps:.0f} tps, {cpu_us:.0f} us "
                    f"postgres CPU per transfer, other CPU "
                    f"{result.notes.get('other_cpu_percent')}%",
                    flush=True,
                )
        print(f"load average at end: {_environment.load_average()}")
        first = args.variants[0]
        base_tps = statistics.median(t for t, _ in figures[first])
        base_cpu = statistics.median(c for _, c in figures[first])
        for variant, values in figures.items():
            tps = statistics.median(t for t, _ in values)
            cpu = statistics.median(c for _, c in values)
            print(
                f"{variant}: median {tps:.0f} tps ({tps / base_tps:.2f}x), "
                f"{cpu:.0f} us CPU per transfer ({cpu / base_cpu:.2f}x)"
            )
    finally:
        if os.environ.get("BENCH_KEEP_STACK") != "1":
            localstack.down(stack)
    return 0


if __name__ == "__main__":
    sys.exit(main())
