"""Every benchmark scenario in one run on one stack, side by side.

`run_all(stack, settings)` prepares the yardstick databases and the ledger's
bench users, runs each scenario at each concurrency and access pattern, the
cold starts, and returns one JSON-ready dict: the figures, the target ratios
and what was skipped and why. `bench/run.py` (make bench) and the smoke test
(tests/integration/test_bench_smoke.py) both call it, with different settings.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import (
    _batch,
    _coldstart,
    _database,
    _environment,
    _hash_chain,
    _http_load,
    _ledger,
    _pgbench,
    _ratios,
)
from bench._latency import LoadResult
from bench._measure import Servers, measured

ROOT = Path(__file__).resolve().parent.parent
SQL_BENCH = ROOT / "sql" / "bench"


@dataclass(frozen=True)
class Settings:
    work_dir: Path
    seconds: int = 15
    concurrencies: tuple[int, ...] = (4, 16)
    # Concurrency 1 is measured through HTTP only: it gives the added p50 of the function.
    http_concurrencies: tuple[int, ...] = (1, 4, 16)
    modes: tuple[str, ...] = ("uniform", "hot")
    tpcb_scale: int = 100
    floor_rows: int = 10_000
    accounts: int = 1_000
    # The bench users' money: XTS (ISO 4217's testing code, added with limits no run
    # reaches) for make bench; the smoke test stays in USD, far below its limits.
    currency: str = "XTS"
    cold_start_runs: int = 11
    # Alternating PostgREST / function runs at one client for the added p50 (see
    # _added_latency): this many pairs, each run this long.
    latency_pairs: int = 3
    latency_pair_seconds: int = 5
    # Alternating transfer_funds runs with and without the hash chain (bench/_hash_chain.py).
    hash_chain_pairs: int = 3
    # Alternating minimal transfer / transfer_funds runs for sql_vs_minimal (_sql_vs_minimal).
    minimal_pairs: int = 3
    log: Callable[[str], None] = field(default=print)


@dataclass
class Run:
    """What one `run_all` collects as it goes."""

    settings: Settings
    servers: Servers
    results: list[LoadResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def add(self, result: LoadResult) -> None:
        self.results.append(result)
        self.settings.log(
            f"  {result.scenario:<22} {result.mode:<8} c={result.concurrency:<3} "
            f"{result.tps:>9.1f} tps  p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms  "
            f"cpu/tx {result.cpu_ms_per_tx}  failures {result.failures}"
        )


def run_all(stack: Any, settings: Settings, *, skipped: list[str] | None = None) -> dict[str, Any]:
    started = time.time()
    machine = _environment.machine()
    run = Run(settings=settings, servers=Servers.of(stack), skipped=list(skipped or []))
    settings.log("preparing the yardstick databases")
    _database.prepare_yardsticks(
        stack, floor_rows=settings.floor_rows, minimal_accounts=settings.accounts
    )
    _database.prepare_tpcb(stack, scale=settings.tpcb_scale)
    _yardsticks(stack, run)
    fixture = _ledger_fixture(stack, run)
    if fixture is not None:
        _ledger_sql(stack, run, fixture)
        _hash_chain_cost(stack, run, fixture)
        _sql_vs_minimal(stack, run, fixture)
        _http(stack, run, fixture)
    run.extra["cold_start"] = _coldstart.measure_all(stack, settings, run.skipped)
    return {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "duration_seconds": round(time.time() - started, 1),
        "machine": {**machine, "loadavg_at_end": _environment.load_average()},
        "versions": _environment.versions(stack),
        "settings": {
            **_database.server_settings(stack),
            "bench_seconds": settings.seconds,
            "tpcb_scale": settings.tpcb_scale,
            "accounts": settings.accounts,
            "pgbench": "-M prepared -j 2 (-j 1 for one client)",
        },
        "results": [result.as_dict() for result in run.results],
        **run.extra,
        "ratios": _ratios.compute(
            run.results,
            run.extra.get("cold_start", {}),
            run.extra.get("added_latency", {}),
            run.extra.get("gateway_latency", {}),
            run.extra.get("hash_chain", {}),
            run.extra.get("sql_vs_minimal", {}),
        ),
        "context_ratios": _ratios.context(run.results),
        "skipped": run.skipped,
    }


def _pgbench_run(
    stack: Any,
    run: Run,
    scenario: str,
    mode: str,
    clients: int,
    *,
    database: str,
    script: Path | None,
    variables: dict[str, str | int],
    max_tries: int = 1,
    ledger: _ledger.Fixture | None = None,
    record: bool = True,
) -> LoadResult:
    label = f"{scenario}-{mode}-c{clients}"

    def once() -> tuple[LoadResult, float]:
        return _pgbench.run(
            _database.target_of(stack),
            database,
            script=script,
            variables=variables,
            clients=clients,
            seconds=run.settings.seconds,
            log_dir=run.settings.work_dir / "pgbench",
            label=label,
            max_tries=max_tries,
        )

    before = _ledger.count_transfers(stack, ledger.currency) if ledger else 0
    result = measured(run.servers, once)
    if ledger:
        _count_refusals(result, _ledger.count_transfers(stack, ledger.currency) - before)
        _ledger.settle(stack)
    result.scenario, result.mode = scenario, mode
    if record:
        run.add(result)
    return result


def _count_refusals(result: LoadResult, committed: int) -> None:
    """transfer_funds returns (does not raise) a refusal, so a load generator counts it as
    a success: only transfers that landed in the ledger count, the rest are failures."""
    attempted = result.transactions
    result.notes["committed_transfers"] = committed
    if committed < attempted:
        result.failures += attempted - committed
        result.tps = round(result.tps * committed / max(attempted, 1), 1)
        result.transactions = committed


def _yardsticks(stack: Any, run: Run) -> None:
    settings = run.settings
    for mode in settings.modes:
        hot = int(mode == "hot")
        for clients in settings.concurrencies:
            _pgbench_run(
                stack,
                run,
                "floor",
                mode,
                clients,
                database=_database.YARDSTICK_DB,
                script=SQL_BENCH / "floor.sql",
                variables={"rows": settings.floor_rows, "hot": hot},
            )
            # The built-in TPC-B has no hot switch; at scale 1 its one branch row is hot.
            tpcb_db = _database.TPCB_HOT_DB if hot else _database.TPCB_DB
            _pgbench_run(
                stack, run, "tpcb", mode, clients, database=tpcb_db, script=None, variables={}
            )
            _minimal_run(stack, run, "minimal", mode, clients)


def _ledger_fixture(stack: Any, run: Run) -> _ledger.Fixture | None:
    missing = _ledger.missing(stack)
    if missing:
        run.skipped.append(f"transfer_funds scenarios: {missing}")
        run.settings.log(f"skipping the ledger scenarios: {missing}")
        return None
    run.settings.log(f"creating {run.settings.accounts} bench users with funded accounts")
    return _ledger.prepare(stack, run.settings.accounts, run.settings.currency)


def _minimal_run(
    stack: Any, run: Run, scenario: str, mode: str, clients: int, *, record: bool = True
) -> LoadResult:
    """The yardstick: sql/bench/minimal_transfer.sql on the bench's own accounts."""
    return _pgbench_run(
        stack,
        run,
        scenario,
        mode,
        clients,
        database=_database.YARDSTICK_DB,
        script=SQL_BENCH / "minimal_transfer.sql",
        variables={"accounts": run.settings.accounts, "hot": int(mode == "hot")},
        record=record,
    )


def _transfer_funds_run(
    stack: Any,
    run: Run,
    fixture: _ledger.Fixture,
    scenario: str,
    mode: str,
    clients: int,
    *,
    record: bool = True,
) -> LoadResult:
    """transfer_funds as the bench users (sql/bench/transfer_funds.sql), counting only the
    transfers that landed; serialization failures are retried as a client would."""
    script, variables = _ledger.pgbench_script(fixture)
    return _pgbench_run(
        stack,
        run,
        scenario,
        mode,
        clients,
        database="postgres",
        script=script,
        variables={**variables, "hot": int(mode == "hot")},
        max_tries=5,
        ledger=fixture,
        record=record,
    )


def _ledger_sql(stack: Any, run: Run, fixture: _ledger.Fixture) -> None:
    for mode in run.settings.modes:
        for clients in run.settings.concurrencies:
            _transfer_funds_run(stack, run, fixture, "transfer_funds_sql", mode, clients)


def _hash_chain_cost(stack: Any, run: Run, fixture: _ledger.Fixture) -> None:
    """transfer_funds with the hash chain / without it, alternating pairs (bench/_hash_chain.py)."""
    settings = run.settings
    if settings.hash_chain_pairs < 1:
        return
    clients = max(settings.concurrencies)

    def once(side: str) -> LoadResult:
        scenario = f"transfer_funds_sql_{side}_chain"
        return _transfer_funds_run(stack, run, fixture, scenario, "uniform", clients, record=False)

    chain = _hash_chain.measure(stack, settings.hash_chain_pairs, once)
    run.extra["hash_chain"] = {"seconds_per_run": settings.seconds, "clients": clients, **chain}
    settings.log(
        "  hash chain, tps with/without: "
        + ", ".join(f"{p['with']:.0f}/{p['without']:.0f}" for p in chain["pairs"])
        + f" -> median ratio {chain['median_ratio']:.3f}"
    )


def _sql_vs_minimal(stack: Any, run: Run, fixture: _ledger.Fixture) -> None:
    """transfer_funds tps / the minimal transfer's, from alternating back-to-back pairs.

    The two sides of the table's ratio are measured minutes apart, and on this machine the
    minimal transfer alone moves by half between runs; a pair run back to back, in
    alternating order, sees the same machine on both sides.
    """
    settings = run.settings
    if settings.minimal_pairs < 1:
        return
    clients = max(settings.concurrencies)

    def once(side: str) -> LoadResult:
        if side == "minimal":
            return _minimal_run(stack, run, "minimal_paired", "uniform", clients, record=False)
        scenario = "transfer_funds_sql_paired"
        return _transfer_funds_run(stack, run, fixture, scenario, "uniform", clients, record=False)

    rows: list[dict[str, float]] = []
    for number in range(settings.minimal_pairs):
        sides = ("minimal", "sql") if number % 2 == 0 else ("sql", "minimal")
        row = {side: once(side).tps for side in sides}
        row["ratio"] = round(row["sql"] / row["minimal"], 3) if row["minimal"] else 0.0
        rows.append(row)
    median = round(statistics.median(row["ratio"] for row in rows), 3)
    run.extra["sql_vs_minimal"] = {
        "seconds_per_run": settings.seconds,
        "clients": clients,
        "pairs": rows,
        "median_ratio": median,
    }
    settings.log(
        "  sql vs minimal, tps transfer_funds/minimal: "
        + ", ".join(f"{p['sql']:.0f}/{p['minimal']:.0f}" for p in rows)
        + f" -> median ratio {median:.3f}"
    )


def _http(stack: Any, run: Run, fixture: _ledger.Fixture) -> None:
    missing = _http_load.missing()
    if missing:
        run.skipped.append(f"HTTP scenarios: {missing}")
        run.settings.log(f"skipping the HTTP scenarios: {missing}")
        return
    paths = [("postgrest_rpc", "rpc", stack.rest_url)]
    if run.servers.functions is None:
        run.skipped.append("transfers function scenarios: the functions server is not running")
    else:
        paths.append(("function", "function", stack.functions_url))
    served: list[tuple[str, str, str]] = []
    for scenario, kind, base_url in paths:
        problem = _http_load.preflight(stack, fixture, kind, base_url)
        if problem:
            run.skipped.append(f"{scenario}: {problem}")
            run.settings.log(f"skipping {scenario}: {problem}")
            continue
        _http_scenario(stack, run, fixture, scenario, kind, base_url)
        served.append((scenario, kind, base_url))
    if any(kind == "function" for _, kind, _ in served):
        _batch.run(stack, run, fixture)
    if len(served) == 2 and run.settings.latency_pairs > 0:
        _added_latency(stack, run, fixture, served)
    if served and served[0][0] == "postgrest_rpc" and run.settings.latency_pairs > 0:
        _gateway_latency(stack, run, fixture)


def _gateway_latency(stack: Any, run: Run, fixture: _ledger.Fixture) -> None:
    """What the gateway adds: PostgREST RPC p50 at one client through `/rest/v1` minus
    direct, from alternating back-to-back pairs like _added_latency, for the same reason."""
    through = f"{stack.api_url}/rest/v1"
    problem = _http_load.preflight(stack, fixture, "rpc", through)
    if problem:
        run.skipped.append(f"gateway latency: {problem}")
        run.settings.log(f"skipping the gateway latency: {problem}")
        return
    sides = [("direct", "rpc", stack.rest_url), ("gateway", "rpc", through)]
    run.extra["gateway_latency"] = _p50_pairs(stack, run, fixture, sides)
    _ledger.settle(stack)


def _added_latency(
    stack: Any, run: Run, fixture: _ledger.Fixture, paths: list[tuple[str, str, str]]
) -> None:
    """The function's added p50 at one client, from alternating runs.

    The c=1 rows above are measured a minute or more apart (every PostgREST run, then
    every function run), and single-client latency on shared cores drifts by more
    than the 2 ms being measured (bench/README.md has two quiet runs' figures). Here
    PostgREST and the function run back to back, `latency_pairs` times, and the
    added p50 is the median of the per-pair differences, so a drift hits both sides
    of each difference alike. Every pair is kept in the report.
    """
    sides = [(kind, kind, base_url) for _scenario, kind, base_url in paths]
    run.extra["added_latency"] = _p50_pairs(stack, run, fixture, sides)


def _p50_pairs(
    stack: Any, run: Run, fixture: _ledger.Fixture, sides: list[tuple[str, str, str]]
) -> dict[str, Any]:
    """`latency_pairs` back-to-back wrk runs at one client of each side (name, request
    kind, base URL); "added" is the second side's p50 minus the first's, and the
    answer's median_added_p50_ms the median of those differences."""
    settings = run.settings
    pairs: list[dict[str, float]] = []
    for _ in range(settings.latency_pairs):
        pair: dict[str, float] = {}
        for name, kind, base_url in sides:
            result, _cpu = _http_load.run_wrk(
                fixture,
                kind=kind,
                base_url=base_url,
                mode="uniform",
                connections=1,
                seconds=settings.latency_pair_seconds,
                work_dir=settings.work_dir / "wrk",
                anon_key=stack.api_key("anon"),
            )
            pair[name] = result.p50_ms
        pair["added"] = round(pair[sides[1][0]] - pair[sides[0][0]], 3)
        pairs.append(pair)
    added = sorted(pair["added"] for pair in pairs)[len(pairs) // 2]
    settings.log(
        f"  p50 at c=1 ({sides[0][0]}/{sides[1][0]} pairs): "
        + ", ".join(f"{p[sides[0][0]]:.2f}/{p[sides[1][0]]:.2f}" for p in pairs)
        + f" -> median added {added:.2f} ms"
    )
    return {
        "seconds_per_run": settings.latency_pair_seconds,
        "pairs_p50_ms": pairs,
        "median_added_p50_ms": added,
    }


def _http_scenario(
    stack: Any, run: Run, fixture: _ledger.Fixture, scenario: str, kind: str, base_url: str
) -> None:
    settings = run.settings
    for mode in settings.modes:
        for clients in settings.http_concurrencies:
            if mode == "hot" and clients == 1:
                continue  # one client cannot contend with itself

            def once(mode: str = mode, clients: int = clients) -> tuple[LoadResult, float]:
                return _http_load.run_wrk(
                    fixture,
                    kind=kind,
                    base_url=base_url,
                    mode=mode,
                    connections=clients,
                    seconds=settings.seconds,
                    work_dir=settings.work_dir / "wrk",
                    anon_key=stack.api_key("anon"),
                )

            sampler = _http_load.MemorySampler(run.servers.functions)
            before = _ledger.count_transfers(stack, fixture.currency)
            with sampler:
                result = measured(run.servers, once)
            _count_refusals(result, _ledger.count_transfers(stack, fixture.currency) - before)
            _ledger.settle(stack)
            result.scenario, result.mode = scenario, mode
            if kind == "function":
                result.notes["functions_memory"] = sampler.peak
                run.extra.setdefault("functions_memory", {})[f"{mode}-c{clients}"] = sampler.peak
            run.add(result)
