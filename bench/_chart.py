"""The run's PNG chart, drawn with matplotlib (the `bench` extra).

Transfers (transactions) per second at the top concurrency for each scenario,
the uniform and the hot pattern side by side, each bar labelled with its
value. matplotlib is imported here only, with its non-interactive Agg backend,
so nothing outside the benchmarks needs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLOURS = {"uniform": "#4272c4", "hot": "#ed7d31"}


def _rows(report: dict[str, Any], labels: dict[str, str]) -> tuple[int, list[tuple[str, dict]]]:
    results = report["results"]
    top = max((r["concurrency"] for r in results), default=1)
    rows: list[tuple[str, dict[str, float]]] = []
    for scenario, label in labels.items():
        values = {
            r["mode"]: r["tps"]
            for r in results
            if r["scenario"] == scenario and r["concurrency"] == top
        }
        if values:
            rows.append((label, values))
    return top, rows


def write(report: dict[str, Any], labels: dict[str, str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    top, rows = _rows(report, labels)
    figure, axes = pyplot.subplots(figsize=(10, 1.0 + 0.6 * max(1, len(rows))), dpi=100)
    height = 0.38
    for offset, (mode, colour) in enumerate(COLOURS.items()):
        positions = [index + (offset - 0.5) * height for index in range(len(rows))]
        values = [values.get(mode, 0.0) for _, values in rows]
        bars = axes.barh(positions, values, height=height, color=colour, label=mode)
        axes.bar_label(bars, labels=[f"{v:,.0f}" if v else "" for v in values], padding=3)
    axes.set_yticks(range(len(rows)), [label for label, _ in rows])
    axes.invert_yaxis()
    axes.set_xlabel("transactions per second")
    axes.set_title(f"transfers (transactions) per second, {top} clients")
    axes.legend(loc="lower right")
    axes.margins(x=0.12)
    figure.tight_layout()
    figure.savefig(path, format="png")
    pyplot.close(figure)
