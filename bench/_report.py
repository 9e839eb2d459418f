"""The run's report: Markdown table, JSON, PNG chart, and bench/README.md's section.

`markdown(report)` renders the results table (and
`update_readme` puts it between bench/README.md's `<!-- bench:start -->` and
`<!-- bench:end -->` markers, touching nothing outside them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import _chart
from bench._ratios import TARGETS, verdict

LABELS = {
    "floor": "commit floor (1-row update)",
    "tpcb": "pgbench tpc-b (built-in)",
    "minimal": "minimal transfer (sql)",
    "transfer_funds_sql": "transfer_funds (sql, as user)",
    "postgrest_rpc": "transfer_funds via postgrest rpc",
    "function": "transfers function (http)",
}
HOT_NOTE = (
    "Hot pattern: the commit floor updates row 1 in every transaction; TPC-B is the built-in "
    "script at scale 1, so every transaction updates its one branch row; every transfer "
    "scenario credits account 1 from a random other account (uniform: two distinct random "
    "accounts)."
)
RATIO_NOTES = {
    "sql_vs_minimal": "transfer_funds SQL tps / minimal transfer tps (uniform, top concurrency; "
    "median of alternating pairs when measured)",
    "hot_vs_uniform": "transfer_funds SQL tps, hot / uniform (top concurrency)",
    "postgres_cpu_us_per_transfer": "Postgres CPU µs per transfer_funds transfer (process tree "
    "CPU over the run / committed transfers; uniform, top concurrency)",
    "hash_chain_vs_without": "transfer_funds SQL tps with the entries' hash chain / without "
    "it (median of alternating pairs, uniform, top concurrency)",
    "function_cpu_vs_postgrest": "function CPU ms / PostgREST CPU ms per request, same run",
    "function_added_p50_ms": "function p50 - PostgREST RPC p50 at concurrency 1 (ms; median "
    "of alternating pairs when measured)",
    "cold_start_vs_imports": "transfers function cold start / hello world importing the "
    "required libraries",
    "gateway_added_p50_ms": "PostgREST RPC p50 through the gateway's /rest/v1 - direct, at "
    "concurrency 1 (ms; median of alternating pairs)",
    "batch_function_vs_single": "transfers/s through POST /transfers/batch, 100 per batch / "
    "1 per batch (top concurrency, uniform)",
}


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _header(report: dict[str, Any]) -> list[str]:
    machine, versions, settings = report["machine"], report["versions"], report["settings"]
    return [
        f"Run {report['started_at']} on commit {report['versions'].get('commit', 'unknown')}, "
        f"{report['duration_seconds']} s in all.",
        "",
        f"- Machine: {machine['cpu_model']}, {machine['cores']} cores, "
        f"{machine['ram_gib']} GiB RAM, Linux {machine['kernel']}.",
        f"- Versions: PostgreSQL {versions['postgres']}, {versions['postgrest']}, "
        f"Python {versions['python']}, functions-framework {versions['functions_framework']}, "
        f"{versions['pgbench']}, {versions['wrk']}.",
        f"- Settings: fsync {settings.get('fsync')}, synchronous_commit "
        f"{settings.get('synchronous_commit')}, shared_buffers {settings.get('shared_buffers')}; "
        f"{settings['bench_seconds']} s per run; pgbench {settings['pgbench']}; "
        f"TPC-B scale {settings['tpcb_scale']} (hot: scale 1); {settings['accounts']} accounts "
        "for every transfer scenario, each owned by its own user; wrk -t 2 (-t 1 for one "
        "connection).",
    ]


def _results_table(report: dict[str, Any]) -> list[str]:
    lines = [
        "| scenario | pattern | clients | tps | p50 ms | p99 ms "
        "| CPU ms/tx postgres | PostgREST | functions | failed | load gen CPU | other CPU |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for result in report["results"]:
        cpu = result["cpu_ms_per_tx"]
        lines.append(
            f"| {LABELS.get(result['scenario'], result['scenario'])} | {result['mode']} "
            f"| {result['concurrency']} | {result['tps']:,.0f} | {result['p50_ms']:.2f} "
            f"| {result['p99_ms']:.2f} | {_fmt(cpu.get('postgres'))} "
            f"| {_fmt(cpu.get('postgrest'))} | {_fmt(cpu.get('functions'))} "
            f"| {result['failures']} | {result['driver_cpu_percent']:.0f}% "
            f"| {result['notes'].get('other_cpu_percent', 0):.0f}% |"
        )
    return lines


def _ratio_table(report: dict[str, Any]) -> list[str]:
    lines = ["| ratio | value | target | | what |", "|---|--:|--:|---|---|"]
    for name, value in report["ratios"].items():
        target, kind = TARGETS[name]
        sign = ">=" if kind == "min" else "<="
        digits = 0 if target >= 100 else 3
        lines.append(
            f"| `{name}` | {_fmt(value, digits)} | {sign} {target:g} | {verdict(name, value)} "
            f"| {RATIO_NOTES[name]} |"
        )
    return lines


def _explanations(report: dict[str, Any]) -> list[str]:
    """The measurements behind two ratios, from the same run."""
    lines: list[str] = []
    added = report.get("added_latency")
    if added:
        pairs = ", ".join(
            f"{pair['rpc']:.2f}/{pair['function']:.2f}" for pair in added["pairs_p50_ms"]
        )
        lines.append(
            f"- `function_added_p50_ms`: median of {len(added['pairs_p50_ms'])} back-to-back "
            f"pairs at one client, {added['seconds_per_run']} s each (p50 ms, PostgREST/function: "
            f"{pairs}); the c=1 rows of the table, minutes apart, differ by "
            f"{_c1_difference(report)} ms."
        )
    gateway = report.get("gateway_latency")
    if gateway:
        pairs = ", ".join(
            f"{pair['direct']:.2f}/{pair['gateway']:.2f}" for pair in gateway["pairs_p50_ms"]
        )
        lines.append(
            f"- `gateway_added_p50_ms`: median of {len(gateway['pairs_p50_ms'])} back-to-back "
            f"pairs at one client, {gateway['seconds_per_run']} s each (p50 ms, PostgREST "
            f"direct/through nginx's /rest/v1: {pairs})."
        )
    paired = report.get("sql_vs_minimal")
    if paired:
        pairs = ", ".join(f"{pair['sql']:,.0f}/{pair['minimal']:,.0f}" for pair in paired["pairs"])
        lines.append(
            f"- `sql_vs_minimal`: median of {len(paired['pairs'])} alternating back-to-back "
            f"pairs at {paired['clients']} clients, {paired['seconds_per_run']} s each, uniform "
            f"(tps transfer_funds/minimal transfer: {pairs}); the table's two rows, minutes "
            f"apart, give {_fmt(report['context_ratios'].get('sql_vs_minimal_rows'), 3)}."
        )
    chain = report.get("hash_chain")
    if chain:
        pairs = ", ".join(f"{pair['with']:,.0f}/{pair['without']:,.0f}" for pair in chain["pairs"])
        lines.append(
            f"- `hash_chain_vs_without`: median of {len(chain['pairs'])} alternating pairs of "
            f"transfer_funds runs at {chain['clients']} clients, {chain['seconds_per_run']} s "
            f"each, with the chain and with a constant hash in its place (tps with/without: "
            f"{pairs})."
        )
    cold = report.get("cold_start", {})
    floor, hello, imports = cold.get("imports"), cold.get("hello"), cold.get("hello_imports")
    if floor and hello and imports and "transfers" in cold:
        base, libraries = floor["functions_framework.aio"], floor["with_required_libraries"]
        lines.append(
            f"- `cold_start_vs_imports`: median cold start {cold['transfers']['median_ms']} ms "
            f"for the transfers function, {imports['median_ms']} ms for a hello world importing "
            f"the required libraries (functions-framework, pydantic, pydantic-settings, PyJWT "
            f"with cryptography, postgrest), {hello['median_ms']} ms for a bare hello world. "
            f"Importing alone (median of {floor['runs']} processes) takes {base} ms for "
            f"functions-framework's ASGI mode, {libraries} ms with those libraries and "
            f"{floor['functions.main']} ms for the functions."
        )
    return ["### How these ratios were measured", "", *lines, ""] if lines else []


def _c1_difference(report: dict[str, Any]) -> str:
    by_key = {(r["scenario"], r["mode"], r["concurrency"]): r for r in report["results"]}
    function, rest = (
        by_key.get(("function", "uniform", 1)),
        by_key.get(("postgrest_rpc", "uniform", 1)),
    )
    if not function or not rest:
        return "-"
    return f"{function['p50_ms'] - rest['p50_ms']:.2f}"


def _cold_and_memory(report: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    cold = report.get("cold_start", {})
    for name in ("hello", "hello_imports", "transfers"):
        if name in cold:
            lines.append(
                f"- Cold start, {name} ({cold['mode']} mode): median {cold[name]['median_ms']} ms "
                f"of {cold[name]['samples_ms']}."
            )
    memory = report.get("functions_memory", {})
    if memory:
        key, peak = max(memory.items(), key=lambda item: item[1]["rss_kib"])
        lines.append(
            f"- Functions server memory under load: at most {peak['rss_kib'] / 1024:.1f} MiB "
            f"resident over its {peak['processes']} processes (gunicorn master and worker; "
            f"during {key}), largest single process {peak['rss_max_kib'] / 1024:.1f} MiB "
            "(psutil, sampled every 0.25 s)."
        )
    return lines


def _columns_note(report: dict[str, Any]) -> list[str]:
    others = sorted(r["notes"].get("other_cpu_percent", 0.0) for r in report["results"])
    median = others[len(others) // 2] if others else 0.0
    lines = [
        "CPU ms/tx: CPU time of each server process tree (psutil, before and after the "
        "run) per committed transaction. Load gen CPU: pgbench's or wrk's own CPU as a share "
        "of one core. Other CPU: the machine's busy time outside the stack and the load "
        "generator, as a share of all cores."
    ]
    if median > 10:
        lines += [
            "",
            f"**Caution: other work used a median {median:.0f}% of the cores during these runs "
            f"(load average {report['machine']['loadavg_at_start']} at start); the figures are "
            "lower than this machine gives when it is otherwise idle. Ratios within one run are "
            "less affected than absolute figures.**",
        ]
    return lines


def markdown(report: dict[str, Any]) -> str:
    lines = ["## Benchmarks", "", *_header(report), "", *_results_table(report), ""]
    lines += [*_columns_note(report), ""]
    lines += [HOT_NOTE, ""]
    lines += ["### Target ratios", "", *_ratio_table(report), ""]
    context = report.get("context_ratios", {})
    if context:
        lines += [
            "For context (tps ratios, uniform unless named, top concurrency): "
            + ", ".join(f"`{name}` {_fmt(value, 3)}" for name, value in context.items())
            + ".",
            "",
        ]
    lines += _explanations(report)
    extra = _cold_and_memory(report)
    if extra:
        lines += ["### Cold start and memory", "", *extra, ""]
    if report.get("skipped"):
        lines += ["### Not measured in this run", ""]
        lines += [f"- {reason}" for reason in report["skipped"]] + [""]
    return "\n".join(lines)


def write_all(report: dict[str, Any], directory: Path, *, history: bool = True) -> list[Path]:
    """latest.{md,json,png}, and the run appended to history.jsonl as one JSON line."""
    directory.mkdir(parents=True, exist_ok=True)
    written = [directory / "latest.md", directory / "latest.json", directory / "latest.png"]
    written[0].write_text(markdown(report))
    written[1].write_text(json.dumps(report, indent=2) + "\n")
    _chart.write(report, LABELS, written[2])
    if history:
        path = directory / "history.jsonl"
        with path.open("a") as lines:
            lines.write(json.dumps(report, separators=(",", ":"), sort_keys=True) + "\n")
        written.append(path)
    return written


START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def update_readme(readme: Path, report: dict[str, Any]) -> bool:
    """Replace what is between the bench markers; False when the markers are not there."""
    text = readme.read_text()
    if START not in text or END not in text:
        return False
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    body = markdown(report).replace("## Benchmarks\n\n", "", 1)
    body += "\n![benchmarks](bench/results/latest.png)\n"
    readme.write_text(f"{head}{START}\n{body}\n{END}{tail}")
    return True
