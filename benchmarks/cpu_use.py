"""Where a benchmark's CPU goes over a timed window: the machine's busy cores, and the cores each named group
of process trees used (Cassandra's nodes, Kafka's brokers, the Spark job, the benchmark itself); the rest is
every other process. Pure but for `take_snapshot` and `CpuMeter`.

A cores figure is CPU-seconds ÷ wall seconds: 2.0 on this 2-core machine is every core busy for the whole
window. Divided by a rate, it is the CPU cost of a row, which says whether a side was bound by CPU and by
whose.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psutil

OTHER = "other"
"""Busy cores no named group accounts for."""

Pids = Mapping[tuple[int, float], float]
"""CPU-seconds by process, a process being its pid and creation time (a pid can be reused)."""


@dataclass(frozen=True)
class Snapshot:
    at_s: float
    """monotonic seconds"""
    machine_busy_s: float
    """CPU-seconds all cores spent running code since boot (user, nice, system, interrupts)"""
    groups: Mapping[str, Pids]


@dataclass(frozen=True)
class CpuUse:
    seconds: float
    rows: int
    """rows the window moved"""
    machine_cores: float
    cores: dict[str, float]
    """cores by group, OTHER last"""

    def per_row_us(self) -> dict[str, float]:
        """CPU-µs per row, the machine's (`machine`) and each group's."""
        shares = {"machine": self.machine_cores, **self.cores}
        return {name: round(cores * self.seconds / self.rows * 1e6, 1) for name, cores in shares.items()}

    def as_json(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 2),
            "rows": self.rows,
            "machine_cores": round(self.machine_cores, 3),
            "cores": {name: round(cores, 3) for name, cores in self.cores.items()},
            "cpu_us_per_row": self.per_row_us(),
        }


def describe(use: Mapping[str, Any]) -> str:
    """A window's CPU use (`CpuUse.as_json`) on one line."""
    named = ", ".join(f"{name} {cores:.2f}" for name, cores in use["cores"].items())
    per_row = use["cpu_us_per_row"]
    return (
        f"{use['machine_cores']:.2f} cores busy ({named}); {per_row['machine']:.0f} CPU-µs a row: "
        + ", ".join(f"{name} {us:.0f}" for name, us in per_row.items() if name != "machine")
    )


def used_seconds(before: Pids, after: Pids) -> float:
    """CPU-seconds the processes of `after` used since `before`: a process new since then counts whole; one
    gone since then is lost (it ran for less than the window)."""
    return sum(cpu - before.get(process, 0.0) for process, cpu in after.items())


def cpu_use(before: Snapshot, after: Snapshot, rows: int) -> CpuUse:
    """The CPU use between two snapshots of a window that moved `rows`."""
    seconds = after.at_s - before.at_s
    cores = {
        name: used_seconds(before.groups.get(name, {}), pids) / seconds for name, pids in after.groups.items()
    }
    machine_cores = (after.machine_busy_s - before.machine_busy_s) / seconds
    cores[OTHER] = max(0.0, machine_cores - sum(cores.values()))
    return CpuUse(seconds, rows, machine_cores, cores)


def mean_use(uses: Sequence[CpuUse]) -> CpuUse:
    """The windows' CPU use together, each weighted by its length."""
    seconds = sum(use.seconds for use in uses)
    names = list(dict.fromkeys(name for use in uses for name in use.cores))
    return CpuUse(
        seconds,
        sum(use.rows for use in uses),
        sum(use.machine_cores * use.seconds for use in uses) / seconds,
        {name: sum(use.cores.get(name, 0.0) * use.seconds for use in uses) / seconds for name in names},
    )


# --- measuring ----------------------------------------------------------------------------------------------
def tree_cpu(roots: Sequence[psutil.Process]) -> dict[tuple[int, float], float]:
    """CPU-seconds (user and system) of each process in the trees of `roots`; one that exits while being
    read is left out."""
    found: dict[tuple[int, float], float] = {}
    for root in roots:
        with contextlib.suppress(psutil.NoSuchProcess):
            for process in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    times = process.cpu_times()
                    found[(process.pid, process.create_time())] = times.user + times.system
    return found


def machine_busy_seconds() -> float:
    times = psutil.cpu_times()  # Linux: /proc/stat, whose user and nice include guest time
    return times.user + times.nice + times.system + times.irq + times.softirq


def take_snapshot(groups: Mapping[str, Sequence[psutil.Process]]) -> Snapshot:
    return Snapshot(
        time.monotonic(),
        machine_busy_seconds(),
        {name: tree_cpu(roots) for name, roots in groups.items()},
    )


class CpuMeter:
    """`start()` at the window's start, `stop(rows)` at its end: the CPU use of the window."""

    def __init__(self, groups: Mapping[str, Sequence[psutil.Process]]) -> None:
        self.groups = groups
        self._before: Snapshot | None = None

    def start(self) -> None:
        self._before = take_snapshot(self.groups)

    def stop(self, rows: int) -> CpuUse:
        if self._before is None:
            raise RuntimeError("CpuMeter.stop() before start()")
        return cpu_use(self._before, take_snapshot(self.groups), rows)
