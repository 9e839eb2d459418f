"""CPU time and memory of the stack's processes, read with psutil.

CPU per request is the difference of two snapshots taken around the same run,
divided by the requests it served. A process's own time is user + system; the
time of children it has reaped (postgres backends that exited, gunicorn
workers that were replaced) is in its children_user + children_system, so a
tree's total is the root's four figures plus the four figures of every child
still alive.
"""

from __future__ import annotations

import time
from pathlib import Path

import psutil

_GONE = (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied)


def _process(pid: int | None) -> psutil.Process | None:
    if pid is None:
        return None
    try:
        return psutil.Process(pid)
    except _GONE:
        return None


def tree(pid: int) -> list[psutil.Process]:
    """`pid` and its live descendants (parents before children); empty when it is gone."""
    root = _process(pid)
    if root is None:
        return []
    try:
        return [root, *root.children(recursive=True)]
    except _GONE:
        return [root]


def settle(pid: int | None, timeout_seconds: float = 3.0) -> None:
    """Wait until no process of the tree is exiting.

    A child that exits between reading it and reading its parent is counted in
    neither (or in both), and a load generator's disconnect ends a few
    backends at once: so snapshots are taken only once the tree has had the
    same members, none of them a zombie, for 50 ms.
    """
    if pid is None:
        return
    deadline = time.monotonic() + timeout_seconds
    previous: list[int] = []
    while time.monotonic() < deadline:
        members = tree(pid)
        current = sorted(member.pid for member in members)
        exiting = False
        for member in members:
            try:
                exiting = exiting or member.status() in (
                    psutil.STATUS_ZOMBIE,
                    psutil.STATUS_DEAD,
                )
            except _GONE:
                exiting = True
        if current == previous and not exiting:
            return
        previous = current
        time.sleep(0.05)


def tree_cpu_seconds(pid: int | None) -> float:
    """CPU seconds used so far by `pid` and all its descendants, alive or reaped."""
    total = 0.0
    for member in tree(pid) if pid is not None else []:
        try:
            times = member.cpu_times()
        except _GONE:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def memory_kib(pid: int | None) -> dict[str, int]:
    """Resident memory of a process tree: summed RSS now, and the largest single process's."""
    result = {"rss_kib": 0, "rss_max_kib": 0, "processes": 0}
    for member in tree(pid) if pid is not None else []:
        try:
            rss = member.memory_info().rss // 1024
        except _GONE:
            continue
        result["rss_kib"] += rss
        result["rss_max_kib"] = max(result["rss_max_kib"], rss)
        result["processes"] += 1
    return result


def pid_from_file(path: Path) -> int | None:
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if psutil.pid_exists(pid) else None


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (all cores)."""
    times = psutil.cpu_times()
    # Guest time is already inside user; idle and iowait are not busy.
    return times.user + times.nice + times.system + times.irq + times.softirq + times.steal
