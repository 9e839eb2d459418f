"""CPU time and memory of the stack's processes, read from /proc.

CPU per request is the difference of two snapshots taken around the same run,
divided by the requests it served. A process's own time is utime + stime; the
time of children it has reaped (postgres backends that exited, gunicorn
workers that were replaced) is in its cutime + cstime, so a tree's total is the
root's four fields plus the four fields of every child still alive.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcStat:
    pid: int
    ppid: int
    state: str
    own_ticks: int
    reaped_children_ticks: int


def read_stat(pid: int) -> ProcStat | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces; fields follow it.
    fields = raw[raw.rindex(")") + 2 :].split()
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return ProcStat(pid, int(fields[1]), fields[0], utime + stime, cutime + cstime)


def tree(pid: int) -> list[int]:
    """`pid` and its descendants, from one scan of /proc (parents before children)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = read_stat(int(entry.name))
            if stat is not None:
                children.setdefault(stat.ppid, []).append(stat.pid)
    pids = [pid]
    index = 0
    while index < len(pids):
        pids.extend(children.get(pids[index], []))
        index += 1
    return pids


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
        members = [read_stat(member) for member in tree(pid)]
        current = sorted(stat.pid for stat in members if stat is not None)
        exiting = any(stat is None or stat.state in "ZX" for stat in members)
        if current == previous and not exiting:
            return
        previous = current
        time.sleep(0.05)


def tree_cpu_seconds(pid: int | None) -> float:
    """CPU seconds used so far by `pid` and all its descendants, alive or reaped."""
    if pid is None:
        return 0.0
    ticks = 0
    root = read_stat(pid)
    if root is None:
        return 0.0
    ticks += root.own_ticks + root.reaped_children_ticks
    for child in tree(pid)[1:]:
        stat = read_stat(child)
        if stat is not None:
            ticks += stat.own_ticks + stat.reaped_children_ticks
    return ticks / CLOCK_TICKS


def memory_kib(pid: int | None) -> dict[str, int]:
    """Resident memory of a process tree: summed VmRSS now, largest VmHWM, and the root's."""
    result = {"rss_kib": 0, "hwm_max_kib": 0, "processes": 0}
    if pid is None:
        return result
    for member in tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        values = dict(line.split(":", 1) for line in status.splitlines() if line.startswith("Vm"))
        rss = int(values.get("VmRSS", "0 kB").split()[0])
        hwm = int(values.get("VmHWM", "0 kB").split()[0])
        result["rss_kib"] += rss
        result["hwm_max_kib"] = max(result["hwm_max_kib"], hwm)
        result["processes"] += 1
    return result


def pid_from_file(path: Path) -> int | None:
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (all cores), from /proc/stat."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    busy = sum(fields[:8]) - idle  # user..steal; guest time is already inside user
    return busy / CLOCK_TICKS
