"""The running stack's memory as the soak watches it: every supervisord program's process tree (the program's
process and all its descendants) and the Spark job's own tree, sampled on a thread of its own; how each grew
between two samples and which restarted. Pure but for `tree_memory`, `take_sample` and `Sampler`.

Two measures of a tree: RSS counts every page a process maps, so a page shared by several processes (a
forked child's pages, the libraries and the JVM's code) counts once in each; PSS divides a shared page
among its sharers. Summed over processes, PSS is the memory they hold together; RSS overstates it.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psutil

from benchmarks.figures import load_average
from finnhub_pipeline.stream_process import job_processes
from stack.settings import RuntimeSettings
from stack.supervisor import Supervisor

MIB = 2**20
GIB = 2**30
SPARK_JOB = "spark-job"
"""The Spark job's own process tree (spark-submit's JVM and its children), shown beside the program that
started it; the stack's total counts it once."""


@dataclass(frozen=True)
class Tree:
    """One process and its descendants: the root's pid, the sums of their RSS and of their PSS, and all
    their pids."""

    pid: int
    rss: int
    pss: int
    members: frozenset[int] = frozenset()


@dataclass(frozen=True)
class MemorySample:
    at_s: float
    """seconds since sampling started (the soak: since its load started)"""
    programs: dict[str, Tree]
    """every running supervisord program's process tree"""
    spark_job: Tree | None = None

    def _stack_trees(self) -> list[Tree]:
        """The programs' trees, and the Spark job's when it is in none of them (its Airflow task outlived a
        scheduler that restarted)."""
        trees = list(self.programs.values())
        if self.spark_job and not any(self.spark_job.pid in tree.members for tree in trees):
            trees.append(self.spark_job)
        return trees

    @property
    def stack_pss(self) -> int:
        """The memory the whole stack holds: what its limit is checked against."""
        return sum(tree.pss for tree in self._stack_trees())

    @property
    def stack_rss(self) -> int:
        """The whole stack's RSS summed, shared pages counted once per process: shown, not checked."""
        return sum(tree.rss for tree in self._stack_trees())

    def trees(self) -> dict[str, Tree]:
        """The programs' trees and, when it runs, the Spark job's (within one of them)."""
        return self.programs | ({SPARK_JOB: self.spark_job} if self.spark_job else {})

    def as_json(self) -> dict[str, Any]:
        trees = self.trees()
        return {
            "at_s": round(self.at_s, 1),
            "rss_bytes": {name: tree.rss for name, tree in sorted(trees.items())},
            "pss_bytes": {name: tree.pss for name, tree in sorted(trees.items())},
            "pids": {name: tree.pid for name, tree in sorted(trees.items())},
            "stack_pss_bytes": self.stack_pss,
            "stack_rss_bytes": self.stack_rss,
        }


@dataclass(frozen=True)
class Growth:
    name: str
    from_bytes: int | None
    end_bytes: int | None

    @property
    def ratio(self) -> float | None:
        """(end - start) / start; None when the tree is missing from either sample."""
        if not self.from_bytes or self.end_bytes is None:
            return None
        return (self.end_bytes - self.from_bytes) / self.from_bytes

    def within(self, limit: float) -> bool:
        return self.ratio is not None and self.ratio <= limit


def growth(samples: Sequence[MemorySample], from_s: float) -> list[Growth]:
    """Each tree's growth from the first sample at or after `from_s` to the last sample."""
    start = next(s for s in samples if s.at_s >= from_s)
    first, end = start.trees(), samples[-1].trees()
    return [
        Growth(name, first[name].rss if name in first else None, end[name].rss if name in end else None)
        for name in sorted(first.keys() | end.keys())
    ]


def restarts(samples: Sequence[MemorySample]) -> list[str]:
    """Every tree whose root pid changed, appeared or vanished between consecutive samples."""
    found = []
    for before, after in itertools.pairwise(samples):
        old, new = before.trees(), after.trees()
        for name in sorted(old.keys() | new.keys()):
            old_pid = old[name].pid if name in old else None
            new_pid = new[name].pid if name in new else None
            if old_pid != new_pid:
                found.append(f"{name}: pid {old_pid or 'none'} → {new_pid or 'none'} at {after.at_s:.0f} s")
    return found


def peak(samples: Sequence[MemorySample]) -> MemorySample:
    """The sample where the whole stack held the most memory (PSS)."""
    return max(samples, key=lambda sample: sample.stack_pss)


def outermost(trees: Sequence[Tree]) -> list[Tree]:
    """The trees that are in no other one's. The job's JVM forks helpers (a shell to set a file's
    permissions) that carry its command line until they exec: found as JVMs of their own, they would count
    twice and look like a restart."""
    return [
        tree for tree in trees if not any(tree.pid in other.members for other in trees if other is not tree)
    ]


# --- sampling the running stack -----------------------------------------------------------------------------
def tree_memory(root: psutil.Process) -> Tree | None:
    """The RSS and PSS of `root` and its descendants; None when `root` has exited. A descendant that exits
    while being read is left out: it holds no memory any more."""
    try:
        family = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return None
    rss = pss = 0
    for process in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            memory = process.memory_full_info()  # Linux: /proc/PID/smaps_rollup
            rss += memory.rss
            pss += memory.pss
    return Tree(root.pid, rss, pss, frozenset(process.pid for process in family))


def take_sample(supervisor: Supervisor, settings: RuntimeSettings, started: float) -> MemorySample:
    programs: dict[str, Tree] = {}
    for name, state in supervisor.programs().items():
        if state.state != "RUNNING" or not state.pid:
            continue
        try:
            tree = tree_memory(psutil.Process(state.pid))
        except psutil.NoSuchProcess:  # exited since supervisord answered: absent from this sample
            tree = None
        if tree is not None:
            programs[name] = tree
    jobs = outermost(
        [tree for jvm in job_processes(settings.checkpoint_dir) if (tree := tree_memory(jvm)) is not None]
    )
    job = None
    if jobs:  # one spark-submit JVM, unless a restarted job overlaps the old one's exit
        job = Tree(
            min(t.pid for t in jobs),
            sum(t.rss for t in jobs),
            sum(t.pss for t in jobs),
            frozenset().union(*(t.members for t in jobs)),
        )
    return MemorySample(time.monotonic() - started, programs, job)


class Sampler:
    """Samples the stack's memory every `interval_s` on a thread of its own while the load runs; a failed
    sample is printed once with its reason and kept in `errors`, and sampling goes on."""

    def __init__(self, supervisor: Supervisor, settings: RuntimeSettings, interval_s: float) -> None:
        self.supervisor, self.settings, self.interval_s = supervisor, settings, interval_s
        self.samples: list[MemorySample] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self.started = time.monotonic()

    def __enter__(self) -> Sampler:
        self.started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(60)
        self.sample()  # the end of the load: the growth check's last sample

    def sample(self) -> None:
        try:
            self.samples.append(take_sample(self.supervisor, self.settings, self.started))
        except Exception as error:  # one lost sample must not end the soak: kept and printed
            message = f"sample at {time.monotonic() - self.started:.0f} s failed: {error!r}"
            self.errors.append(message)
            print(message, flush=True)

    def _run(self) -> None:
        while True:
            self.sample()
            if self.samples and len(self.samples) % 30 == 0:  # a line every 5 minutes at 10 s
                latest = self.samples[-1]
                print(
                    f"  {latest.at_s / 60:5.1f} min: stack {latest.stack_pss / GIB:.2f} GiB (PSS), "
                    f"load average {load_average()}",
                    flush=True,
                )
            if self._stop.wait(self.interval_s):
                return
