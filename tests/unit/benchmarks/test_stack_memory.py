"""The stack's memory samples: a program's process tree summed, the Spark job counted once, growth from a
given sample to the last, restarts (pure, but for one sample taken of this test's own processes)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import psutil

from benchmarks.stack_memory import (
    MIB,
    SPARK_JOB,
    MemorySample,
    Tree,
    growth,
    outermost,
    restarts,
    take_sample,
)
from stack.supervisor import ProgramState

from .memory_samples import sample


def test_the_stack_total_counts_the_spark_job_once_within_its_program() -> None:
    assert sample(0).stack_pss == 2_200 * MIB
    assert sample(0).stack_rss == 2_500 * MIB


def test_a_spark_job_outside_every_program_is_added_to_the_stack() -> None:
    orphan = MemorySample(
        0,
        {"kafka": Tree(10, 1_000 * MIB, 900 * MIB, frozenset({10}))},
        Tree(99, 500 * MIB, 400 * MIB, frozenset({99})),
    )

    assert orphan.stack_pss == 1_300 * MIB
    assert orphan.stack_rss == 1_500 * MIB


def test_a_child_of_the_job_that_looks_like_the_job_is_counted_within_it_only() -> None:
    job = Tree(21, 1_200 * MIB, 1_000 * MIB, frozenset({21, 22, 23}))
    forked = Tree(23, 1_100 * MIB, 500 * MIB, frozenset({23}))  # the JVM's child, before it execs
    restarted = Tree(30, 900 * MIB, 800 * MIB, frozenset({30}))

    assert outermost([forked, job]) == [job]
    assert outermost([job, restarted]) == [job, restarted]


def test_growth_runs_from_the_five_minute_sample_to_the_last() -> None:
    samples = [
        sample(0, kafka_mib=500),
        sample(290, kafka_mib=800),
        sample(300),
        sample(600, kafka_mib=1_100),
    ]

    by_name = {item.name: item for item in growth(samples, 300)}

    assert by_name["kafka"].from_bytes == 1_000 * MIB  # the 300 s sample, not the warming-up ones before
    assert by_name["kafka"].ratio == 0.1
    assert by_name["kafka"].within(0.1)
    assert set(by_name) == {"kafka", "airflow-scheduler", SPARK_JOB}


def test_a_program_whose_pid_changed_restarted() -> None:
    samples = [sample(0), sample(10, kafka_pid=11), sample(20, kafka_pid=11)]

    assert restarts(samples) == ["kafka: pid 10 → 11 at 10 s"]


def test_a_program_that_vanished_or_appeared_restarted() -> None:
    gone = MemorySample(10, {"kafka": sample(10).programs["kafka"]})

    assert restarts([sample(0), gone]) == [
        "airflow-scheduler: pid 20 → none at 10 s",
        "spark-job: pid 21 → none at 10 s",
    ]
    assert restarts([gone, sample(20)])[0] == "airflow-scheduler: pid none → 20 at 20 s"


class OneProgram:
    """A supervisord that runs one program: this test's process."""

    def programs(self) -> dict[str, ProgramState]:
        return {
            "tests": ProgramState("tests", "RUNNING", os.getpid()),
            "stopped": ProgramState("stopped", "STOPPED", 0),
        }


def test_a_sample_sums_a_programs_process_and_its_children(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        settings = argparse.Namespace(checkpoint_dir=tmp_path / "no-job-writes-here")

        taken = take_sample(OneProgram(), settings, started=0.0)  # type: ignore[arg-type]
    finally:
        child.kill()
        child.wait()

    tree = taken.programs["tests"]
    assert set(taken.programs) == {"tests"}  # a stopped program is not sampled
    assert tree.pid == os.getpid() and child.pid in tree.members
    assert tree.rss > psutil.Process().memory_info().rss  # this process and the child
    assert 0 < tree.pss < tree.rss  # the two Pythons share their interpreter's pages
    assert taken.spark_job is None
