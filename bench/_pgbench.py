"""Running pgbench and reading its per-transaction logs.

pgbench's own summary has throughput but no percentiles (`--report-per-command`
gives averages), so every run writes `--log` files, one line per transaction
with its latency in microseconds, and p50/p99 are computed from them here.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench._latency import LoadResult, percentile


class PgbenchError(Exception):
    """pgbench failed or reported aborted clients."""


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    user: str
    password: str

    def env(self) -> dict[str, str]:
        return {**os.environ, "PGPASSWORD": self.password}


def pgbench_binary() -> str:
    for candidate in ("/usr/lib/postgresql/15/bin/pgbench", "/usr/lib/postgresql/16/bin/pgbench"):
        if Path(candidate).exists():
            return candidate
    found = shutil.which("pgbench")
    if found is None:
        raise PgbenchError("pgbench not found: apt-get install postgresql-client-15")
    return found


def initialise_tpcb(target: Target, database: str, scale: int) -> None:
    """`pgbench -i`, generating the rows server side (much faster than COPY from the client)."""
    argv = [
        pgbench_binary(),
        "-h",
        target.host,
        "-p",
        str(target.port),
        "-U",
        target.user,
        "-i",
        "-q",
        "-I",
        "dtGvp",
        "-s",
        str(scale),
        database,
    ]
    result = subprocess.run(argv, env=target.env(), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PgbenchError(f"pgbench -i failed:\n{result.stderr.strip()}")


def run(
    target: Target,
    database: str,
    *,
    script: str | Path | None,
    variables: dict[str, str | int],
    clients: int,
    seconds: int,
    log_dir: Path,
    label: str,
    max_tries: int = 1,
) -> tuple[LoadResult, float]:
    """One pgbench run. `script=None` runs the built-in TPC-B. Returns the result
    (without CPU figures, which the caller measures) and pgbench's own CPU seconds."""
    log_dir.mkdir(parents=True, exist_ok=True)
    prefix = log_dir / label
    for old in log_dir.glob(f"{label}.*"):
        old.unlink()
    argv = [
        pgbench_binary(),
        "-h",
        target.host,
        "-p",
        str(target.port),
        "-U",
        target.user,
        "-n",
        "-M",
        "prepared",
        "-c",
        str(clients),
        "-j",
        str(min(2, clients)),
        "-T",
        str(seconds),
        "--log",
        f"--log-prefix={prefix}",
    ]
    if max_tries > 1:
        argv.append(f"--max-tries={max_tries}")
    if script is not None:
        argv += ["-f", str(script)]
    for name, value in variables.items():
        argv += ["-D", f"{name}={value}"]
    argv.append(database)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(argv, env=target.env(), capture_output=True, text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    driver_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode != 0 or "aborted" in result.stderr:
        raise PgbenchError(
            f"pgbench {label} failed (exit {result.returncode}):\n"
            f"{result.stderr.strip()[-2000:]}\n{result.stdout.strip()[-1000:]}"
        )
    latencies_us, failed = _read_logs(log_dir, label)
    summary = _summary(result.stdout)
    latencies_ms = sorted(value / 1000 for value in latencies_us)
    loaded = LoadResult(
        scenario="",
        mode="",
        concurrency=clients,
        tool="pgbench",
        seconds=float(seconds),
        transactions=int(summary.get("processed", len(latencies_us))),
        failures=int(summary.get("failed", failed)),
        tps=float(summary.get("tps", 0.0)),
        p50_ms=percentile(latencies_ms, 0.50),
        p99_ms=percentile(latencies_ms, 0.99),
    )
    return loaded, driver_cpu


def _read_logs(log_dir: Path, label: str) -> tuple[list[float], int]:
    """Latencies (µs) of successful transactions and the count of failed ones.

    Each line: client_id transaction_no time script_no time_epoch time_us [...];
    `time` is `failed` (or `skipped`) instead of a number when it did not commit.
    """
    latencies: list[float] = []
    failed = 0
    for path in sorted(log_dir.glob(f"{label}.*")):
        for line in path.read_text().splitlines():
            fields = line.split()
            if len(fields) < 3:
                continue
            if fields[2].isdigit():
                latencies.append(float(fields[2]))
            else:
                failed += 1
    return latencies, failed


_SUMMARY_PATTERNS = {
    "processed": re.compile(r"number of transactions actually processed: (\d+)"),
    "failed": re.compile(r"number of failed transactions: (\d+)"),
    "tps": re.compile(r"tps = ([\d.]+) \(without initial connection time\)"),
}


def _summary(stdout: str) -> dict[str, float | int]:
    found: dict[str, float | int] = {}
    for name, pattern in _SUMMARY_PATTERNS.items():
        match = pattern.search(stdout)
        if match:
            found[name] = float(match.group(1)) if name == "tps" else int(match.group(1))
    return found
