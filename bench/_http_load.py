"""HTTP load with wrk: transfers through PostgREST RPC and through the transfers function.

wrk (Debian package `wrk`) is a C event loop; its Lua script (bench/lua/
transfers.lua) builds each request with random accounts, a fresh idempotency
key and the owning user's token. Its own CPU time is read from the kernel when
it exits and reported as a share of the run's wall time, which shows whether
the load generator could have been the bottleneck (it cannot be while it uses
well under a core). Latency percentiles are wrk's, from its `done` hook.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

from bench import _procs
from bench._latency import LoadResult

LUA = Path(__file__).resolve().parent / "lua" / "transfers.lua"


def missing() -> str:
    if shutil.which("wrk") is None:
        return "wrk is not installed (apt-get install wrk)"
    return ""


def _lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string of ASCII is a valid Lua string literal


def write_data(fixture: Any, anon_key: str, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = ",\n".join(
        f"{{{_lua_string(account.account_id)}, {_lua_string(account.token)}}}"
        for account in fixture.accounts
    )
    path.write_text(
        f"return {{anon = {_lua_string(anon_key)}, currency = {_lua_string(fixture.currency)},\n"
        f"accounts = {{\n{rows}\n}}}}\n"
    )
    return path


def _request(kind: str, base_url: str, fixture: Any, anon_key: str) -> urllib.request.Request:
    source, destination = fixture.accounts[-1], fixture.accounts[0]
    key = f"preflight-{uuid.uuid4()}"
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {source.token}"}
    if kind == "rpc":
        url = f"{base_url}/rpc/transfer_funds"
        body = {
            "p_from_account_id": source.account_id,
            "p_to_account_id": destination.account_id,
            "p_amount": "0.01",
            "p_currency": fixture.currency,
            "p_idempotency_key": key,
        }
        headers["apikey"] = anon_key
    else:
        url = f"{base_url}/transfers"
        body = {
            "from_account_id": source.account_id,
            "to_account_id": destination.account_id,
            "amount": "0.01",
            "currency": fixture.currency,
        }
        headers["Idempotency-Key"] = key
    return urllib.request.Request(
        url, data=json.dumps(body).encode(), headers=headers, method="POST"
    )


def preflight(stack: Any, fixture: Any, kind: str, base_url: str) -> str:
    """One request like the load's; an empty string when it succeeded, else why not."""
    request = _request(kind, base_url, fixture, stack.api_key("anon"))
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            if 200 <= response.status < 300:
                return ""
            return f"a transfer answered {response.status}"
    except urllib.error.HTTPError as error:
        return f"a transfer answered {error.code}: {error.read()[:300]!r}"
    except OSError as error:
        return f"a transfer failed: {error}"


def run_wrk(
    fixture: Any,
    *,
    kind: str,
    base_url: str,
    mode: str,
    connections: int,
    seconds: int,
    work_dir: Path,
    anon_key: str,
) -> tuple[LoadResult, float]:
    data = write_data(fixture, anon_key, work_dir / "accounts.lua")
    threads = min(2, connections)
    argv = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{seconds}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        base_url,
        "--",
        str(data),
        mode,
        kind,
        f"{kind}-{mode}-c{connections}-{uuid.uuid4().hex[:8]}",
    ]
    out_path, err_path = work_dir / "wrk.out", work_dir / "wrk.err"
    started = time.monotonic()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = subprocess.Popen(argv, stdout=out, stderr=err)
        # wait4 reaps wrk and hands back its own CPU usage, nobody else's.
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall_seconds = time.monotonic() - started
    cpu_seconds = usage.ru_utime + usage.ru_stime
    stdout, stderr = out_path.read_bytes(), err_path.read_bytes()
    text = stdout.decode(errors="replace")
    marker = next((line for line in text.splitlines() if line.startswith("WRK_JSON ")), None)
    if process.returncode != 0 or marker is None:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{stderr.decode()[-2000:]}{text}")
    summary = json.loads(marker.removeprefix("WRK_JSON "))
    failures = sum(summary[name] for name in ("connect", "read", "write", "status", "timeout"))
    duration_seconds = summary["duration_us"] / 1e6
    succeeded = summary["requests"] - summary["status"]
    result = LoadResult(
        scenario="",
        mode=mode,
        concurrency=connections,
        tool="wrk",
        seconds=round(duration_seconds, 2),
        transactions=succeeded,
        failures=failures,
        tps=round(succeeded / duration_seconds, 1),
        p50_ms=summary["p50_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        notes={"wrk_threads": threads, "wall_seconds": round(wall_seconds, 2)},
    )
    return result, cpu_seconds


class MemorySampler:
    """Samples the functions server tree's resident memory while a load runs."""

    def __init__(self, pid: int | None, interval_seconds: float = 0.25) -> None:
        self.pid = pid
        self.interval_seconds = interval_seconds
        self.peak: dict[str, int] = {"rss_kib": 0, "rss_max_kib": 0, "processes": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            self._sample()

    def _sample(self) -> None:
        sample = _procs.memory_kib(self.pid)
        largest = max(self.peak["rss_max_kib"], sample["rss_max_kib"])
        if sample["rss_kib"] > self.peak["rss_kib"]:
            self.peak = sample
        self.peak["rss_max_kib"] = largest

    def __enter__(self) -> MemorySampler:
        if self.pid is not None:
            self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self.pid is not None:
            self._thread.join()
            self._sample()
