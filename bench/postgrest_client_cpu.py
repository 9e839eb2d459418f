"""CPU per request of the functions' PostgREST client, on each transport the settings offer.

A sequential client (one request at a time, as one function request makes its
calls) against PostgREST on the bench stack's ports: one-row reads of the
caller's account and `transfer_funds` RPCs, through the production code path
(`functions.core._postgrest.Postgrest` on `make_http_client`). Each transport
is measured twice, interleaved, after a warm-up; the CPU is this process's
(`time.process_time`), and PostgREST's own CPU for the same requests is read
from /proc for scale.

    .venv/bin/python bench/postgrest_client_cpu.py [--requests 2000]

Starts the bench stack (STACK_BENCH_* ports) without the functions server, and
stops it at the end if it started it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import _ledger  # noqa: E402
from scripts import localstack  # noqa: E402

TRANSPORTS = ("httpx", "aiohttp")
ROUNDS = 2
WARMUP_REQUESTS = 200


def _process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _measure(transport: str, fixture: _ledger.Fixture, requests: int, pid: int) -> dict:
    os.environ["POSTGREST_TRANSPORT"] = transport
    from functions.core import get_settings
    from functions.core._postgrest import Postgrest, make_http_client

    get_settings.cache_clear()
    settings = get_settings()
    http_client = make_http_client(settings)
    postgrest = Postgrest(settings, http_client)
    sender, receiver = fixture.accounts[0], fixture.accounts[1]

    async def read() -> None:
        table = postgrest.table("accounts", token=sender.token)
        rows = await postgrest.rows(table.select("id,balance").eq("id", sender.account_id).limit(1))
        assert len(rows) == 1

    async def transfer() -> None:
        args = {
            "p_from_account_id": sender.account_id,
            "p_to_account_id": receiver.account_id,
            "p_amount": "0.01",
            "p_currency": fixture.currency,
            "p_idempotency_key": uuid.uuid4().hex,
            "p_description": None,
        }
        result = await postgrest.rpc("transfer_funds", args, token=sender.token)
        assert result["status"] == "posted", result

    found: dict[str, float] = {}
    try:
        for name, call in (("read", read), ("transfer", transfer)):
            for _ in range(WARMUP_REQUESTS):
                await call()
            cpu, server, wall = time.process_time(), _process_cpu_seconds(pid), time.perf_counter()
            for _ in range(requests):
                await call()
            found[f"{name}_client_cpu_ms"] = (time.process_time() - cpu) * 1000 / requests
            found[f"{name}_postgrest_cpu_ms"] = (
                (_process_cpu_seconds(pid) - server) * 1000 / requests
            )
            found[f"{name}_wall_ms"] = (time.perf_counter() - wall) * 1000 / requests
    finally:
        await http_client.aclose()
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    stack = localstack.Stack.from_env("bench")
    started = localstack.up(stack, functions=False)
    try:
        os.environ.update(stack.env())
        os.environ["ENVIRONMENT"] = "local"
        fixture = _ledger.prepare(stack, 2, "XTS")
        pid = int((stack.run_dir / "postgrest.pid").read_text().split()[0])
        samples: dict[str, list[dict]] = {name: [] for name in TRANSPORTS}
        for _ in range(ROUNDS):
            for transport in TRANSPORTS:
                samples[transport].append(
                    asyncio.run(_measure(transport, fixture, args.requests, pid))
                )
        report = {
            transport: {
                key: round(statistics.median(run[key] for run in runs), 3) for key in runs[0]
            }
            for transport, runs in samples.items()
        }
        report["requests"] = args.requests  # type: ignore[assignment]
        report["rounds"] = ROUNDS  # type: ignore[assignment]
        print(json.dumps(report, indent=2))
    finally:
        if started:
            localstack.down(stack)
    return 0


if __name__ == "__main__":
    sys.exit(main())
