"""The stack's server processes, and CPU per transaction around one run.

Every load run is bracketed by two CPU snapshots of the three servers
(postgres with all its backends, PostgREST, the functions server with its
workers); the difference divided by the transactions served is the CPU each
layer spent per transaction in that run. The machine's total busy time over
the same interval, minus those servers and the load generator, is what other
work took from the cores: a run with much of it is not a clean measurement.
"""

from __future__ import annotations

import os
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
        for pid in (self.postgres, self.functions):
            _procs.settle(pid)
        return {
            "postgres": _procs.tree_cpu_seconds(self.postgres),
            "postgrest": _procs.tree_cpu_seconds(self.postgrest),
            "functions": _procs.tree_cpu_seconds(self.functions),
        }


def measured(servers: Servers, run: Callable[[], tuple[LoadResult, float]]) -> LoadResult:
    """Run `run` (which returns a result and its load generator's CPU seconds) between
    two CPU snapshots, and fill in CPU per transaction and the generator's CPU share."""
    before = servers.cpu_seconds()
    machine_before = _procs.machine_busy_seconds()
    started = time.monotonic()
    result, driver_cpu_seconds = run()
    wall_seconds = time.monotonic() - started
    machine_busy = _procs.machine_busy_seconds() - machine_before
    after = servers.cpu_seconds()
    served = max(result.transactions, 1)
    result.cpu_ms_per_tx = {
        name: round((after[name] - before[name]) * 1000 / served, 4) for name in after
    }
    result.driver_cpu_percent = round(100 * driver_cpu_seconds / wall_seconds, 1)
    # CPU the machine spent on anything but this stack and its load generator: other
    # work sharing the cores, which makes a run's figures lower than the machine's.
    ours = sum(after[name] - before[name] for name in after) + driver_cpu_seconds
    capacity = wall_seconds * (os.cpu_count() or 1)
    result.notes["other_cpu_percent"] = round(max(0.0, machine_busy - ours) * 100 / capacity, 1)
    return result
