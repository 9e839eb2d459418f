"""The benchmark's target ratios, computed from one run's results.

Each ratio uses the highest concurrency the run measured (16 for make bench)
and the uniform pattern unless it is about the hot account. A ratio whose
inputs were not measured is None, never a guess.
"""

from __future__ import annotations

from typing import Any

from bench._latency import LoadResult

# name: (target, "min" when the ratio must reach it, "max" when it must stay under it)
TARGETS: dict[str, tuple[float, str]] = {
    "sql_vs_minimal": (0.6, "min"),
    "hot_vs_uniform": (0.5, "min"),
    "postgres_cpu_us_per_transfer": (420.0, "max"),
    "hash_chain_vs_without": (0.9, "min"),
    "function_cpu_vs_postgrest": (2.0, "max"),
    "function_added_p50_ms": (2.0, "max"),
    "cold_start_vs_imports": (1.1, "max"),
    "gateway_added_p50_ms": (0.5, "max"),
    "batch_function_vs_single": (5.0, "min"),
}


def find(results: list[LoadResult], scenario: str, mode: str, clients: int) -> LoadResult | None:
    for result in results:
        if (result.scenario, result.mode, result.concurrency) == (scenario, mode, clients):
            return result
    return None


def _top(results: list[LoadResult], scenario: str) -> int:
    return max((r.concurrency for r in results if r.scenario == scenario), default=0)


def _tps(result: LoadResult | None) -> float | None:
    return result.tps if result else None


def _divide(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 3)


def _tps_ratio(
    results: list[LoadResult], top: tuple[str, str], bottom: tuple[str, str]
) -> float | None:
    """tps of (scenario, mode) `top` over `bottom`, both at `top`'s highest concurrency."""
    clients = _top(results, top[0])
    return _divide(_tps(find(results, *top, clients)), _tps(find(results, *bottom, clients)))


def compute(
    results: list[LoadResult],
    cold_start: dict[str, Any],
    added_latency: dict[str, Any] | None = None,
    gateway_latency: dict[str, Any] | None = None,
    hash_chain: dict[str, Any] | None = None,
    sql_vs_minimal: dict[str, Any] | None = None,
) -> dict[str, float | None]:
    top = _top(results, "transfer_funds_sql")
    sql_uniform = find(results, "transfer_funds_sql", "uniform", top)
    sql_hot = find(results, "transfer_funds_sql", "hot", top)
    function_top = find(results, "function", "uniform", _top(results, "function"))
    function_one = find(results, "function", "uniform", 1)
    rest_one = find(results, "postgrest_rpc", "uniform", 1)
    added = None
    if added_latency and added_latency.get("median_added_p50_ms") is not None:
        # Alternating pairs at one client (bench/_scenarios.py, _added_latency).
        added = added_latency["median_added_p50_ms"]
    elif function_one and rest_one:
        added = round(function_one.p50_ms - rest_one.p50_ms, 3)
    cpu_ratio = None
    if function_top:
        cpu_ratio = _divide(
            function_top.cpu_ms_per_tx.get("functions"), function_top.cpu_ms_per_tx.get("postgrest")
        )
    paired_ratio = (sql_vs_minimal or {}).get("median_ratio")
    postgres_cpu_us = None
    if sql_uniform and "postgres" in sql_uniform.cpu_ms_per_tx:
        postgres_cpu_us = round(sql_uniform.cpu_ms_per_tx["postgres"] * 1000, 1)
    return {
        # Median of alternating back-to-back pairs when measured (bench/_scenarios.py,
        # _sql_vs_minimal); else the table's two rows, measured minutes apart.
        "sql_vs_minimal": paired_ratio
        if paired_ratio is not None
        else _tps_ratio(results, ("transfer_funds_sql", "uniform"), ("minimal", "uniform")),
        "hot_vs_uniform": _divide(_tps(sql_hot), _tps(sql_uniform)),
        # The postgres process tree's CPU per committed transfer (uniform, top concurrency).
        "postgres_cpu_us_per_transfer": postgres_cpu_us,
        # Median of alternating with/without pairs (bench/_hash_chain.py).
        "hash_chain_vs_without": (hash_chain or {}).get("median_ratio"),
        "function_cpu_vs_postgrest": cpu_ratio,
        "function_added_p50_ms": added,
        "cold_start_vs_imports": _divide(
            cold_start.get("transfers", {}).get("median_ms"),
            cold_start.get("hello_imports", {}).get("median_ms"),
        ),
        # Alternating pairs at one client, direct and through /rest/v1 (_gateway_latency).
        "gateway_added_p50_ms": (gateway_latency or {}).get("median_added_p50_ms"),
        # Transfers per second at 100 per batch over 1 per batch (bench/_batch.py).
        "batch_function_vs_single": _divide(
            _tps(
                find(results, "function_batch_100", "uniform", _top(results, "function_batch_100"))
            ),
            _tps(find(results, "function_batch_1", "uniform", _top(results, "function_batch_1"))),
        ),
    }


def verdict(name: str, value: float | None) -> str:
    if value is None:
        return "not measured"
    target, kind = TARGETS[name]
    met = value >= target if kind == "min" else value <= target
    return "met" if met else "missed"


def context(results: list[LoadResult]) -> dict[str, float | None]:
    """Ratios that explain the targets: what the yardsticks themselves lose when hot, and
    what each HTTP layer keeps of the layer beneath it (uniform, top concurrency)."""
    return {
        "floor_hot_vs_uniform": _tps_ratio(results, ("floor", "hot"), ("floor", "uniform")),
        "minimal_hot_vs_uniform": _tps_ratio(results, ("minimal", "hot"), ("minimal", "uniform")),
        "minimal_vs_floor": _tps_ratio(results, ("minimal", "uniform"), ("floor", "uniform")),
        "postgrest_vs_sql": _tps_ratio(
            results, ("postgrest_rpc", "uniform"), ("transfer_funds_sql", "uniform")
        ),
        # The table's two rows, minutes apart: what sql_vs_minimal is when no pairs ran.
        "sql_vs_minimal_rows": _tps_ratio(
            results, ("transfer_funds_sql", "uniform"), ("minimal", "uniform")
        ),
        "function_vs_postgrest": _tps_ratio(
            results, ("function", "uniform"), ("postgrest_rpc", "uniform")
        ),
    }
