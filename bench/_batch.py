"""The batch scenario: transfers per second through `POST /transfers/batch`.

One wrk run per batch size (1, 10 and 100 transfers per request) at the run's top
HTTP concurrency, uniform accounts: each request moves 0.01 from one random bench
account to `size` random others in one transaction (bench/lua/batches.lua). The
figure is committed transfers per second, counted in the ledger (a refused batch
posts nothing), so a batch of 100 that answers once counts as 100 transfers. The
target ratio `batch_function_vs_single` (bench/_ratios.py) is the tps at 100
over the tps at 1: what one request's fixed cost (HTTP, JWT, PostgREST, a
transaction and its commit) is worth when it carries many postings.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from bench import _http_load, _ledger
from bench._latency import LoadResult
from bench._measure import measured

LUA = Path(__file__).resolve().parent / "lua" / "batches.lua"
BATCH_SIZES = (1, 10, 100)


def scenario_name(size: int) -> str:
    return f"function_batch_{size}"


def _wrk(fixture: Any, *, size: int, connections: int, seconds: int, work_dir: Path,
         anon_key: str, base_url: str) -> tuple[LoadResult, float]:  # fmt: skip
    data = _http_load.write_data(fixture, anon_key, work_dir / "accounts.lua")
    threads = min(2, connections)
    argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
            "--latency", "--timeout", "30s", "-s", str(LUA), base_url, "--", str(data),
            str(size), f"batch{size}-{uuid.uuid4().hex[:8]}"]  # fmt: skip
    out_path, err_path = work_dir / "wrk-batch.out", work_dir / "wrk-batch.err"
    started = time.monotonic()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = subprocess.Popen(argv, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)  # wrk's own CPU, nobody else's
    process.returncode = os.waitstatus_to_exitcode(status)
    wall_seconds = time.monotonic() - started
    text = out_path.read_bytes().decode(errors="replace")
    marker = next((line for line in text.splitlines() if line.startswith("WRK_JSON ")), None)
    if process.returncode != 0 or marker is None:
        raise RuntimeError(f"wrk failed:\n{err_path.read_text()[-2000:]}{text}")
    summary = json.loads(marker.removeprefix("WRK_JSON "))
    failures = sum(summary[name] for name in ("connect", "read", "write", "status", "timeout"))
    duration_seconds = summary["duration_us"] / 1e6
    result = LoadResult(
        scenario=scenario_name(size),
        mode="uniform",
        concurrency=connections,
        tool="wrk",
        seconds=round(duration_seconds, 2),
        transactions=summary["requests"] - summary["status"],  # batches, until counted below
        failures=failures,
        tps=0.0,
        p50_ms=summary["p50_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        notes={"wrk_threads": threads, "wall_seconds": round(wall_seconds, 2),
               "batch_size": size, "requests": summary["requests"]},
    )  # fmt: skip
    return result, usage.ru_utime + usage.ru_stime


def run(stack: Any, run: Any, fixture: Any) -> None:
    """Each batch size once; adds one result per size to `run` (bench/_scenarios.Run)."""
    settings = run.settings
    connections = max(settings.http_concurrencies)
    for size in BATCH_SIZES:
        before = _ledger.count_transfers(stack, fixture.currency)

        def once(size: int = size) -> tuple[LoadResult, float]:
            return _wrk(fixture, size=size, connections=connections, seconds=settings.seconds,
                        work_dir=settings.work_dir / "wrk", anon_key=stack.api_key("anon"),
                        base_url=stack.functions_url)  # fmt: skip

        result = measured(run.servers, once)
        batches = max(result.transactions, 1)
        committed = _ledger.count_transfers(stack, fixture.currency) - before
        _ledger.settle(stack)
        # The ledger's count, not wrk's: transfers, and a refused batch posts none.
        expected = batches * size
        result.failures += (expected - committed) // size if committed < expected else 0
        result.notes["committed_transfers"] = committed
        result.transactions = committed
        result.tps = round(committed / max(result.seconds, 0.001), 1)
        # CPU per transfer, not per batch, like the single-transfer scenarios.
        result.cpu_ms_per_tx = {
            name: round(value * batches / max(committed, 1), 4)
            for name, value in result.cpu_ms_per_tx.items()
        }
        run.add(result)
