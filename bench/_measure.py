"""The stack's server processes, and CPU per transaction around one run.

Every load run is bracketed by two CPU snapshots of the three servers
(postgres with all its backends, PostgREST, the functions server with its
workers); the difference divided by the transactions served is the CPU each
layer spent per transaction in that run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench import _procs
from bench._latency import LoadResult


@dataclass(frozen=True)
class Servers:
    postgres: int | None
    postgrest: int | None
    functions: int | None

    @classmethod
    def of(cls, stack: Any) -> Servers:
        return cls(
            postgres=_procs.pid_from_file(stack.pgdata / "postmaster.pid"),
            postgrest=_procs.pid_from_file(stack.run_dir / "postgrest.pid"),
            functions=_procs.pid_from_file(stack.run_dir / "functions.pid"),
        )

    def cpu_seconds(self) -> dict[str, float]:
        return {
            "postgres": _procs.tree_cpu_seconds(self.postgres),
            "postgrest": _procs.tree_cpu_seconds(self.postgrest),
            "functions": _procs.tree_cpu_seconds(self.functions),
        }


def measured(servers: Servers, run: Callable[[], tuple[LoadResult, float]]) -> LoadResult:
    """Run `run` (which returns a result and its load generator's CPU seconds) between
    two CPU snapshots, and fill in CPU per transaction and the generator's CPU share."""
    before = servers.cpu_seconds()
    started = time.monotonic()
    result, driver_cpu_seconds = run()
    wall_seconds = time.monotonic() - started
    after = servers.cpu_seconds()
    served = max(result.transactions, 1)
    result.cpu_ms_per_tx = {
        name: round((after[name] - before[name]) * 1000 / served, 4) for name in after
    }
    result.driver_cpu_percent = round(100 * driver_cpu_seconds / wall_seconds, 1)
    return result
