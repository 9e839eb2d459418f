"""Load results and the percentile arithmetic shared by every load generator."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list (0.0 when it is empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class LoadResult:
    """One scenario at one access pattern and one concurrency."""

    scenario: str
    mode: str
    concurrency: int
    tool: str
    seconds: float
    transactions: int
    failures: int
    tps: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_tx: dict[str, float] = field(default_factory=dict)
    driver_cpu_percent: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
