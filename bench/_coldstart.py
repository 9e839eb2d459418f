"""Cold start: process start to first answered request, the function beside two hello worlds.

`hello` imports functions-framework alone; `hello_imports` also imports the
libraries the functions are required to use (bench/hello/imports.py), so
`cold_start_vs_imports` (transfers / hello_imports) is what the functions' own
code and setup add.

Each run spawns a fresh `functions-framework` process and polls its port with
a plain HTTP request every few milliseconds; any HTTP answer (even a 401 or a
404) counts, because functions-framework imports the target before it listens,
so an answer means the function is loaded and serving. The server is started
with the same command line and mode as the stack's own functions server, so
the function and the hello world differ only in what they import.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
HELLO_SOURCE = ROOT / "bench" / "hello" / "main.py"
HELLO_IMPORTS_SOURCE = ROOT / "bench" / "hello" / "imports.py"
FUNCTIONS_SOURCE = ROOT / "functions" / "main.py"
TIMEOUT_SECONDS = 30.0


def _free_port() -> int:
    """A free port below Linux's ephemeral range (32768-60999): polling a port in that
    range before anything listens on it can connect the polling socket to itself."""
    for _ in range(100):
        port = random.randint(20_000, 32_000)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port between 20000 and 32000")


def _answers(port: int, probe: str) -> bool:
    """Whether `probe` ("METHOD /path") gets any HTTP answer."""
    method, path = probe.split(" ", 1)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request(method, path)
        connection.getresponse().read()
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()
    return True


def _server_mode(stack: Any) -> tuple[bool, list[str]]:
    """Whether the stack's functions server runs in ASGI mode, and extra flags it got."""
    pid_file = stack.run_dir / "functions.pid"
    try:
        process = psutil.Process(int(pid_file.read_text().split()[0]))
        argv = process.cmdline()
        environ = process.environ()
    except (OSError, ValueError, IndexError, psutil.Error):
        return False, []
    asgi = "--asgi" in argv or environ.get("FUNCTION_USE_ASGI", "") not in ("", "0")
    keep = [arg for arg in argv if arg == "--debug"]
    return asgi, keep


def once(
    source: Path, target: str, *, asgi: bool, flags: list[str], env: dict[str, str], probe: str
) -> float:
    """Milliseconds from spawning the server to its first HTTP answer."""
    port = _free_port()
    argv = [
        str(Path(sys.executable).parent / "functions-framework"),
        f"--target={target}",
        f"--source={source}",
        "--host=127.0.0.1",
        f"--port={port}",
        *(["--asgi"] if asgi else []),
        *flags,
    ]
    started = time.perf_counter()
    process = subprocess.Popen(
        argv,
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        while time.perf_counter() - started < TIMEOUT_SECONDS:
            if _answers(port, probe):
                return (time.perf_counter() - started) * 1000
            if process.poll() is not None:
                error = process.stderr.read().decode(errors="replace") if process.stderr else ""
                raise RuntimeError(f"{target} exited at start:\n{error[-2000:]}")
            time.sleep(0.005)
        raise RuntimeError(f"{target} did not answer within {TIMEOUT_SECONDS} s")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        if process.stderr:
            process.stderr.close()


# What each case imports, to split a cold start into the framework, the libraries the
# functions are required to use, and the functions' own code.
IMPORT_CASES = {
    "functions_framework.aio": "import functions_framework.aio",
    "with_required_libraries": (
        "import functions_framework.aio, pydantic, pydantic_settings, jwt, postgrest"
    ),
    "functions.main": "import functions.main",
}


def import_times(env: dict[str, str], runs: int) -> dict[str, Any]:
    """Median milliseconds for a fresh interpreter to run each of IMPORT_CASES and exit."""
    samples: dict[str, list[float]] = {name: [] for name in IMPORT_CASES}
    for _ in range(runs):
        for name, code in IMPORT_CASES.items():
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-c", code], env=env, cwd=ROOT, check=True, capture_output=True
            )
            samples[name].append((time.perf_counter() - started) * 1000)
    found: dict[str, Any] = {
        name: round(statistics.median(values), 1) for name, values in samples.items()
    }
    found["runs"] = runs
    return found


def measure_all(stack: Any, settings: Any, skipped: list[str]) -> dict[str, Any]:
    asgi, flags = _server_mode(stack)
    env = {**os.environ, **stack.env()}
    if asgi:
        env.pop("FUNCTION_USE_ASGI", None)  # the flag says it once, explicitly
    runs = settings.cold_start_runs
    cases = [("hello", HELLO_SOURCE, "hello_async" if asgi else "hello", "GET /")]
    if asgi:
        cases.append(("hello_imports", HELLO_IMPORTS_SOURCE, "hello_async", "GET /"))
    if FUNCTIONS_SOURCE.exists():
        # A POST without a token reaches the function's own code: the runtime (the
        # PostgREST pool, its transport) is built before the token is refused with 401.
        cases.append(("transfers", FUNCTIONS_SOURCE, "transfers", "POST /transfers"))
    else:
        skipped.append("cold start of transfers: functions/main.py does not exist yet")
    found: dict[str, Any] = {"mode": "asgi" if asgi else "flask", "runs": runs}
    # Interleave the two so drift on the machine hits both alike.
    samples: dict[str, list[float]] = {name: [] for name, *_ in cases}
    failed: set[str] = set()
    for _ in range(runs):
        for name, source, target, probe in cases:
            if name in failed:
                continue
            try:
                samples[name].append(
                    once(source, target, asgi=asgi, flags=flags, env=env, probe=probe)
                )
            except RuntimeError as error:
                skipped.append(f"cold start of {name}: {error}")
                failed.add(name)
                samples[name] = []
    for name, values in samples.items():
        if values:
            found[name] = {
                "median_ms": round(statistics.median(values), 1),
                "samples_ms": [round(value, 1) for value in values],
            }
    if "transfers" in found:
        found["imports"] = import_times(env, max(runs, 3))
    settings.log(
        f"  cold start ({found['mode']}): "
        + ", ".join(f"{name} {found[name]['median_ms']} ms" for name in samples if name in found)
    )
    return found
