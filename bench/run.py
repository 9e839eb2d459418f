"""`make bench`: every benchmark scenario side by side, in one run, on its own stack.

Starts a fresh `bench` stack (own data directory and ports, 26520/26521/26580 and
the gateway on 26522 unless STACK_BENCH_*_PORT say otherwise, so it never touches `make run`'s or
`make test`'s data; below Linux's ephemeral range 32768-60999, where polling a
port nobody listens on yet can connect a socket to itself), runs the scenarios
(bench/_scenarios.py), writes bench/results/latest.{md,json,png} and a dated
copy, refreshes bench/README.md's results section when its markers exist, and stops
the stack.

Environment: BENCH_SECONDS (default 15) per run, BENCH_TPCB_SCALE (100),
BENCH_ACCOUNTS (1000), BENCH_COLD_START_RUNS (11), BENCH_KEEP_STACK=1 to leave
the stack running afterwards.

`python bench/run.py --render` runs nothing: it prints the table of
bench/results/latest.json and puts it into bench/README.md between the markers
`<!-- bench:start -->` and `<!-- bench:end -->` when they are there.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import _report, _scenarios  # noqa: E402
from scripts import localstack  # noqa: E402

PORT_DEFAULTS = {
    "STACK_BENCH_DB_PORT": "26520",
    "STACK_BENCH_REST_PORT": "26521",
    "STACK_BENCH_FUNCTIONS_PORT": "26580",
    "STACK_BENCH_GATEWAY_PORT": "26522",
}
RESULTS = ROOT / "bench" / "results"


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, str(default))
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"{name}={raw!r} must be a positive integer")
    return int(raw)


def settings_from_env() -> _scenarios.Settings:
    return _scenarios.Settings(
        work_dir=RESULTS / "tmp",
        seconds=_int_env("BENCH_SECONDS", 15),
        tpcb_scale=_int_env("BENCH_TPCB_SCALE", 100),
        accounts=_int_env("BENCH_ACCOUNTS", 1000),
        cold_start_runs=_int_env("BENCH_COLD_START_RUNS", 11),
        log=lambda line: print(line, flush=True),
    )


def _start(stack: Any, *, functions: bool) -> list[str]:
    """Start the stack; a functions server that fails to start only skips its scenarios."""
    if not functions:
        localstack.up(stack, functions=False)
        return ["functions scenarios: functions/main.py does not exist yet"]
    try:
        localstack.up(stack, functions=True)
    except Exception as error:  # the SQL figures are worth having whatever broke here
        if not localstack.is_up(stack, functions=False):
            raise
        first_line = (str(error).splitlines() or [type(error).__name__])[0]
        print(f"bench: the functions server did not start ({first_line}); going on without it")
        return [f"functions scenarios: the functions server did not start: {first_line}"]
    return []


def render() -> int:
    report = json.loads((RESULTS / "latest.json").read_text())
    print(_report.markdown(report))
    if _report.update_readme(ROOT / "bench" / "README.md", report):
        print("updated bench/README.md between its bench markers", file=sys.stderr)
    return 0


def main() -> int:
    if sys.argv[1:] == ["--render"]:
        return render()
    if sys.argv[1:]:
        raise SystemExit("usage: bench/run.py [--render]")
    for name, value in PORT_DEFAULTS.items():
        os.environ.setdefault(name, value)
    settings = settings_from_env()
    stack = localstack.Stack.from_env("bench")
    functions = (ROOT / "functions" / "main.py").exists()
    print(
        f"bench stack: postgres :{stack.db_port}, PostgREST :{stack.rest_port}, "
        f"functions :{stack.functions_port} ({'on' if functions else 'none yet'}), "
        f"gateway :{stack.gateway_port}",
        flush=True,
    )
    localstack.reset(stack)
    try:
        skipped = _start(stack, functions=functions)
        report = _scenarios.run_all(stack, settings, skipped=skipped)
    except localstack.StackError as error:
        print(f"bench: the stack failed: {error}", file=sys.stderr)
        return 1
    finally:
        if os.environ.get("BENCH_KEEP_STACK") != "1":
            localstack.down(stack)
    for path in _report.write_all(report, RESULTS):
        print(f"wrote {path.relative_to(ROOT)}")
    if _report.update_readme(ROOT / "bench" / "README.md", report):
        print("updated bench/README.md between its bench markers")
    print()
    print(_report.markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
