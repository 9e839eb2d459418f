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

With --cumulative each variant loads on top of the ones before it (the order
of the list, every round; undo files run last first at the end of a round), so
the list reads as rules taken away one after another. With --minimal the
minimal transfer (sql/bench/minimal_transfer.sql, in the bench database) runs
right before and after each variant, and the report adds transfer_funds tps
over their mean: the `sql_vs_minimal` ratio of `make bench`, measured next to
each variant. A variant may bring its own pgbench script as NAME.pgbench.sql.
bench/ablations/ holds the steps of the cumulative ablation in decision 0014:

    .venv/bin/python bench/ablate.py - bench/ablations/0*.sql \
        --cumulative --minimal --clients 16 --rounds 2

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


def _load(stack: Any, variant: str, baseline: Path | None) -> None:
    if baseline is not None:
        _database.psql(stack, "-v", "ON_ERROR_STOP=1", "-q", "-f", str(baseline))
    if variant != "-":
        _database.psql(stack, "-v", "ON_ERROR_STOP=1", "-q", "-f", variant)


def _undo(stack: Any, variant: str) -> None:
    undo = Path(variant).with_suffix(".undo.sql")
    if variant != "-" and undo.exists():
        _database.psql(stack, "-v", "ON_ERROR_STOP=1", "-q", "-f", str(undo))


def _minimal_tps(stack: Any, args: argparse.Namespace, work: Path) -> float:
    result, _ = _pgbench.run(
        _database.target_of(stack),
        _database.YARDSTICK_DB,
        script=_database.SQL_BENCH / "minimal_transfer.sql",
        variables={"accounts": args.accounts, "hot": 0},
        clients=args.clients,
        seconds=args.seconds,
        log_dir=work / "pgbench",
        label="ablate_minimal",
    )
    return result.tps


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
    parser.add_argument("--cumulative", action="store_true", help="stack the variants in order")
    parser.add_argument("--minimal", action="store_true", help="pair each run with the minimal")
    args = parser.parse_args()
    args.variants = [v for v in args.variants if not v.endswith((".undo.sql", ".pgbench.sql"))]
    for name, value in PORT_DEFAULTS.items():
        os.environ.setdefault(name, value)
    stack = localstack.Stack.from_env("bench")
    work = ROOT / "bench" / "results" / "tmp" / "ablate"
    work.mkdir(parents=True, exist_ok=True)
    localstack.reset(stack)
    localstack.up(stack, functions=False)
    try:
        fixture = _ledger.prepare(stack, args.accounts, "XTS")
        ledger_script, variables = _ledger.pgbench_script(fixture)
        if args.minimal:
            _database.prepare_yardsticks(stack, floor_rows=1, minimal_accounts=args.accounts)
        baseline = _baseline_file(stack, work)
        servers = Servers.of(stack)
        print(f"load average at start: {_environment.load_average()}", flush=True)
        figures: dict[str, list[tuple[float, float, float]]] = {v: [] for v in args.variants}
        for round_number in range(args.rounds):
            forward = args.cumulative or round_number % 2 == 0
            order = args.variants if forward else list(reversed(args.variants))
            if args.cumulative:
                _load(stack, "-", baseline)
            for variant in order:
                _load(stack, variant, None if args.cumulative else baseline)
                own = Path(variant).with_suffix(".pgbench.sql")
                script = own if variant != "-" and own.exists() else ledger_script
                minimal_before = _minimal_tps(stack, args, work) if args.minimal else 0.0
                before = _ledger.count_transfers(stack, "XTS")

                def once(script: Path = script) -> tuple[Any, float]:
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
                committed = _ledger.count_transfers(stack, "XTS") - before
                if not args.cumulative:
                    _undo(stack, variant)
                cpu_us = result.cpu_ms_per_tx["postgres"] * 1000 * result.transactions / committed
                tps = result.tps * committed / max(result.transactions, 1)
                minimal_after = _minimal_tps(stack, args, work) if args.minimal else 0.0
                minimal = (minimal_before + minimal_after) / 2
                figures[variant].append((tps, cpu_us, tps / minimal if minimal else 0.0))
                line = (
                    f"round {round_number + 1} {variant}: {tps:.0f} tps, {cpu_us:.0f} us "
                    f"postgres CPU per transfer, other CPU {result.notes.get('other_cpu_percent')}%"
                )
                if minimal:
                    line += f", minimal {minimal:.0f} tps, ratio {tps / minimal:.3f}"
                print(line, flush=True)
            if args.cumulative:
                for variant in reversed(order):
                    _undo(stack, variant)
        print(f"load average at end: {_environment.load_average()}")
        first = args.variants[0]
        base_tps = statistics.median(t for t, _, _ in figures[first])
        base_cpu = statistics.median(c for _, c, _ in figures[first])
        for variant, values in figures.items():
            tps = statistics.median(t for t, _, _ in values)
            cpu = statistics.median(c for _, c, _ in values)
            ratios = ", ".join(f"{r:.3f}" for _, _, r in values)
            print(
                f"{variant}: median {tps:.0f} tps ({tps / base_tps:.2f}x), "
                f"{cpu:.0f} us CPU per transfer ({cpu / base_cpu:.2f}x)"
                + (f", vs minimal {ratios}" if args.minimal else "")
            )
    finally:
        if os.environ.get("BENCH_KEEP_STACK") != "1":
            localstack.down(stack)
    return 0


if __name__ == "__main__":
    sys.exit(main())
