"""The benchmark harness runs end to end, briefly, so it cannot rot.

Every scenario of `make bench` once, for one second at one concurrency, on the
session's test stack; the figures mean nothing at this length, only that each
scenario served transactions and the numbers are sane. Reports go to tmp_path,
never to bench/results/.
"""

from __future__ import annotations

import json
import shutil
from typing import Any

import pytest

from bench import _database, _hash_chain, _ledger, _report
from bench._ratios import TARGETS
from bench._scenarios import Settings, run_all

pytestmark = [pytest.mark.integration, pytest.mark.bench]


def _expected_scenarios(stack: Any) -> set[str]:
    expected = {"floor", "tpcb", "minimal"}
    if not _ledger.missing(stack.config):
        expected |= {"transfer_funds_sql", "postgrest_rpc"}
        if (stack.config.run_dir / "functions.pid").exists():
            expected |= {"function", "function_batch_1", "function_batch_10", "function_batch_100"}
    return expected


def test_every_bench_scenario_runs_once_with_sane_numbers(stack: Any, tmp_path: Any) -> None:
    if shutil.which("wrk") is None:
        pytest.fail("the HTTP scenarios need wrk: apt-get install wrk")
    settings = Settings(
        work_dir=tmp_path / "work",
        seconds=1,
        concurrencies=(4,),
        http_concurrencies=(1,),
        tpcb_scale=1,
        floor_rows=1_000,
        accounts=50,
        currency="USD",
        cold_start_runs=1,
        latency_pairs=1,
        latency_pair_seconds=1,
        hash_chain_pairs=1,
        minimal_pairs=1,
        log=lambda line: None,
    )
    try:
        report = run_all(stack.config, settings)
    finally:
        _database.drop_bench_databases(stack.config)
        _ledger.cleanup(stack.config)

    measured = {result["scenario"] for result in report["results"]}
    assert measured == _expected_scenarios(stack), report["skipped"]
    for result in report["results"]:
        assert result["transactions"] > 0, result
        assert result["failures"] == 0, result
        assert result["tps"] > 0, result
        assert 0 < result["p50_ms"] <= result["p99_ms"] < 5_000, result
        assert all(value >= 0 for value in result["cpu_ms_per_tx"].values()), result
        assert result["cpu_ms_per_tx"]["postgres"] > 0, result
    assert report["cold_start"]["hello"]["median_ms"] > 0
    assert report["cold_start"]["hello_imports"]["median_ms"] > 0
    assert report["ratios"]["cold_start_vs_imports"] is not None
    assert set(report["ratios"]) == set(TARGETS)
    imports = report["cold_start"]["imports"]
    # One process each: which import is slower is a measurement for the full bench, and
    # on a busy machine a single sample of each can come out either way.
    assert imports["functions_framework.aio"] > 0
    assert imports["with_required_libraries"] > 0
    if "function" in measured:
        (pair,) = report["added_latency"]["pairs_p50_ms"]
        assert pair["rpc"] > 0
        assert pair["function"] > 0
        assert report["ratios"]["function_added_p50_ms"] == pair["added"]
    if "postgrest_rpc" in measured:
        (through,) = report["gateway_latency"]["pairs_p50_ms"]
        assert 0 < through["direct"] < 5_000
        assert 0 < through["gateway"] < 5_000
        assert report["ratios"]["gateway_added_p50_ms"] == through["added"]

    if "transfer_funds_sql" in measured:
        (chain,) = report["hash_chain"]["pairs"]
        assert chain["with"] > 0
        assert chain["without"] > 0
        assert report["ratios"]["hash_chain_vs_without"] == chain["ratio"]
        (paired,) = report["sql_vs_minimal"]["pairs"]
        assert paired["sql"] > 0
        assert paired["minimal"] > 0
        assert report["ratios"]["sql_vs_minimal"] == paired["ratio"]
        assert report["context_ratios"]["sql_vs_minimal_rows"] > 0
        assert report["ratios"]["postgres_cpu_us_per_transfer"] > 0
        # The migrated posting is back, and the entries posted with a constant hash are
        # chained again: the chains sql/checks/09 verifies hold for the tests after this.
        assert "pg_catalog.sha256(" in _database.psql(
            stack.config, "-c", f"select pg_get_functiondef('{_hash_chain.FUNCTION}'::regproc)"
        )
        assert (
            _database.psql(stack.config, "-c", "select count(*) from public.verify_ledger()")
            == "0\n"
        )

    written = _report.write_all(report, tmp_path / "results", history=False)
    assert json.loads((tmp_path / "results" / "latest.json").read_text())["ratios"]
    assert (tmp_path / "results" / "latest.png").read_bytes().startswith(b"\x89PNG")
    table = written[0].read_text()
    assert "| minimal transfer (sql) | uniform | 4 |" in table
    assert "- `cold_start_vs_imports`: median cold start" in table
    if "transfer_funds_sql" in measured:
        assert "- `sql_vs_minimal`: median of 1 alternating back-to-back pairs" in table


def test_readme_bench_section_is_replaced_between_its_markers_only(tmp_path: Any) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# title\n\n<!-- bench:start -->\nold table\n<!-- bench:end -->\nafter\n")
    report = {
        "started_at": "2026-01-01T00:00:00+0000", "duration_seconds": 1.0,
        "machine": {"cpu_model": "cpu", "cores": 2, "ram_gib": 1.0, "kernel": "k",
                    "loadavg_at_start": "0.00"},
        "versions": {"postgres": "15", "postgrest": "PostgREST 12", "python": "3.11",
                     "functions_framework": "3.10", "pgbench": "pgbench 15", "wrk": "wrk 4"},
        "settings": {"bench_seconds": 1, "pgbench": "-j 2", "tpcb_scale": 1, "accounts": 2},
        "results": [], "ratios": dict.fromkeys(TARGETS), "skipped": [],
    }  # fmt: skip

    assert _report.update_readme(readme, report)
    text = readme.read_text()
    assert text.startswith("# title\n\n<!-- bench:start -->\n")
    assert text.endswith("<!-- bench:end -->\nafter\n")
    assert "old table" not in text
    assert "| `sql_vs_minimal` | - | >= 0.6 | not measured |" in text
    assert _report.update_readme(readme, report)
    assert readme.read_text() == text


def test_the_chain_free_variant_replaces_only_the_hash_call() -> None:
    definition = (
        "insert into t select a, pg_catalog.sha256(coalesce((select h from e), ''::bytea)"
        " || pg_catalog.int8send(f(1, (2)))) from l where (x)"
    )

    variant = _hash_chain.without_chain(definition)

    assert variant == (f"insert into t select a, {_hash_chain.CONSTANT_HASH} from l where (x)")
    with pytest.raises(_hash_chain.ChainVariantError):
        _hash_chain.without_chain("insert into t select a, b from l")


def test_each_run_appends_one_line_to_the_history(tmp_path: Any) -> None:
    report = {
        "started_at": "2026-01-01T00:00:00+0000", "duration_seconds": 1.0,
        "machine": {"cpu_model": "cpu", "cores": 2, "ram_gib": 1.0, "kernel": "k",
                    "loadavg_at_start": "0.00"},
        "versions": {"postgres": "15", "postgrest": "PostgREST 12", "python": "3.11",
                     "functions_framework": "3.10", "pgbench": "pgbench 15", "wrk": "wrk 4"},
        "settings": {"bench_seconds": 1, "pgbench": "-j 2", "tpcb_scale": 1, "accounts": 2},
        "results": [], "ratios": dict.fromkeys(TARGETS), "skipped": [],
    }  # fmt: skip

    _report.write_all(report, tmp_path)
    _report.write_all({**report, "duration_seconds": 2.0}, tmp_path)

    lines = (tmp_path / "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["duration_seconds"] for line in lines] == [1.0, 2.0]
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "history.jsonl", "latest.json", "latest.md", "latest.png",
    ]  # fmt: skip
