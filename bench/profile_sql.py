"""Where Postgres spends its CPU per transfer: transfer_funds beside the minimal yardstick.

Runs one pgbench script at 16 clients against a running bench stack, records the
backends with `perf record -g` for 10 s, and prints the CPU microseconds per
transaction spent under a few Postgres functions (inclusive), so the gap that
`sql_vs_minimal` reports can be attributed to phases (statement setup, trigger
and foreign-key work, check constraints, index inserts, commit). Needs perf and
root (or perf_event_paranoid <= 1), and a stack left by `BENCH_KEEP_STACK=1 make
bench` (bench_fixture in the postgres database, bench_minimal in the bench one).
Not part of make bench: sampling costs CPU of its own, so its figures are for
attribution, not tps.

    .venv/bin/python bench/profile_sql.py            # both scripts, 1000 accounts
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._database import query_rows  # noqa: E402
from bench.run import PORT_DEFAULTS  # noqa: E402
from scripts import localstack  # noqa: E402

ACCOUNTS = os.environ.get("BENCH_ACCOUNTS", "1000")
FREQUENCY = 1999
# name: (pgbench script, database make bench prepares it in)
SCRIPTS = {
    "transfer_funds": (ROOT / "sql" / "bench" / "transfer_funds.sql", "postgres"),
    "minimal": (ROOT / "sql" / "bench" / "minimal_transfer.sql", "bench"),
}
# Inclusive CPU under each of these, per committed transaction.
PHASES = {
    "PostgresMain": "all of the backend's work",
    "fmgr_sql": "the public SQL wrapper and everything it calls",
    "plpgsql_exec_function": "plpgsql function bodies",
    "SPI_execute_plan_with_paramlist": "statements run from plpgsql",
    "standard_ExecutorStart": "executor setup per statement",
    "standard_ExecutorFinish": "data-modifying CTEs and after-row triggers",
    "AfterTriggerEndQuery": "after-row triggers (foreign-key checks)",
    "ExecConstraints": "check constraints",
    "stringToNode": "re-reading constraint expressions per statement",
    "ExecInsertIndexTuples": "index inserts",
    "CommitTransactionCommand": "commit",
    "XLogFlush": "WAL flush at commit",
}


def profile(stack: Any, name: str, script: Path, database: str, work: Path) -> dict[str, float]:
    def value(sql: str) -> str:
        return query_rows(stack, sql, database=database)[0][0]

    env = {**os.environ, "PGPASSWORD": stack.db_password}
    argv = ["pgbench", "-h", "127.0.0.1", "-p", str(stack.db_port), "-U", "postgres", "-n"]
    argv += ["-M", "prepared"]
    argv += ["-c", "16", "-j", "2", "-T", "14", "-D", f"accounts={ACCOUNTS}"]
    argv += ["-D", "currency=XTS", "-D", "hot=0", "-f", str(script), database]
    load = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    time.sleep(2)
    pids = value(
        "select string_agg(pid::text, ',') from pg_stat_activity "
        f"where application_name = 'pgbench' and datname = '{database}'"
    )
    data = work / f"{name}.data"
    commits = f"select xact_commit from pg_stat_database where datname = '{database}'"
    before = int(value(commits))
    lsn_before = value("select pg_current_wal_lsn()")
    record = ["perf", "record", "-F", str(FREQUENCY), "-g", "-p", pids, "-o", str(data)]
    subprocess.run(
        [*record, "--", "sleep", "10"],
        check=True,
        capture_output=True,
    )
    after = int(value(commits))
    wal_bytes = int(value(f"select pg_wal_lsn_diff(pg_current_wal_lsn(), '{lsn_before}')"))
    output = load.communicate()[0].decode()
    tps = re.search(r"tps = ([\d.]+)", output)
    read = ["perf", "report", "-i", str(data), "--children", "-n", "--sort", "symbol"]
    report = subprocess.run(
        [*read, "--stdio", "-g", "none"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    inclusive: dict[str, float] = {}
    total_samples = 0.0
    for line in report.splitlines():
        parts = line.split()
        if len(parts) < 5 or not parts[0].endswith("%"):
            continue
        children, self_share, samples, symbol = (
            float(parts[0][:-1]),
            float(parts[1][:-1]),
            int(parts[2]),
            parts[4],
        )
        if not total_samples and self_share >= 1:
            total_samples = samples * 100 / self_share
        inclusive.setdefault(symbol, children)
    transactions = max(after - before, 1)
    per_tx = {
        symbol: inclusive.get(symbol, 0.0) / 100 * total_samples / FREQUENCY / transactions * 1e6
        for symbol in PHASES
    }
    per_tx["wal_bytes"] = wal_bytes / transactions
    print(f"{name}: pgbench {tps.group(1) if tps else '?'} tps while sampled", file=sys.stderr)
    return per_tx


def main() -> int:
    for name, port in PORT_DEFAULTS.items():
        os.environ.setdefault(name, port)
    stack = localstack.Stack.from_env("bench")
    with tempfile.TemporaryDirectory() as scratch:
        found = {
            name: profile(stack, name, script, database, Path(scratch))
            for name, (script, database) in SCRIPTS.items()
        }
    print(f"| phase (inclusive CPU, µs per transaction) | {' | '.join(found)} |")
    print("|---|" + "--:|" * len(found))
    for symbol, meaning in PHASES.items():
        cells = " | ".join(f"{found[name][symbol]:.0f}" for name in found)
        print(f"| `{symbol}`: {meaning} | {cells} |")
    cells = " | ".join(f"{found[name]['wal_bytes']:.0f}" for name in found)
    print(f"| WAL bytes per transaction (pg_current_wal_lsn) | {cells} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
