"""The soak's memory figures and verdict: sums per program, growth from minute 5, restarts, the stack's limit,
the JSON it writes (pure; the soak itself runs live against the stack)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import psutil

from benchmarks.plots import GIB, MIB
from benchmarks.soak import (
    SPARK_JOB,
    Limits,
    RssSample,
    Tree,
    growth,
    growth_not_applicable,
    restarts,
    result_json,
    sent_per_symbol,
    take_sample,
    verdict,
)
from stack.supervisor import ProgramState
from testkit.stream import LoadRun
from testkit.window import WindowReport

LIMITS = Limits()


def sample(at_s: float, kafka_mib: int = 1_000, scheduler_mib: int = 1_500, kafka_pid: int = 10) -> RssSample:
    """Kafka, and Airflow's scheduler holding the Spark job's tree (pid 21 of its family)."""
    return RssSample(
        at_s,
        {
            "kafka": Tree(kafka_pid, kafka_mib * MIB, frozenset({kafka_pid})),
            "airflow-scheduler": Tree(20, scheduler_mib * MIB, frozenset({20, 21, 22})),
        },
        Tree(21, 1_200 * MIB, frozenset({21, 22})),
    )


def soak_samples(end_kafka_mib: int = 1_050, minutes: int = 30) -> list[RssSample]:
    samples = [sample(at) for at in range(0, minutes * 60, 10)]
    return [*samples, sample(minutes * 60, kafka_mib=end_kafka_mib)]


def test_the_stack_total_counts_the_spark_job_once_within_its_program() -> None:
    assert sample(0).stack == 2_500 * MIB


def test_a_spark_job_outside_every_program_is_added_to_the_stack() -> None:
    orphan = RssSample(
        0, {"kafka": Tree(10, 1_000 * MIB, frozenset({10}))}, Tree(99, 500 * MIB, frozenset({99}))
    )

    assert orphan.stack == 1_500 * MIB


def test_growth_runs_from_the_five_minute_sample_to_the_last() -> None:
    samples = [
        sample(0, kafka_mib=500),
        sample(290, kafka_mib=800),
        sample(300),
        sample(600, kafka_mib=1_100),
    ]

    by_name = {item.name: item for item in growth(samples, LIMITS)}

    assert by_name["kafka"].from_bytes == 1_000 * MIB  # the 300 s sample, not the warming-up ones before
    assert by_name["kafka"].ratio == 0.1
    assert by_name["kafka"].within(LIMITS.growth)
    assert set(by_name) == {"kafka", "airflow-scheduler", SPARK_JOB}


def test_growth_over_10_percent_fails_the_verdict() -> None:
    samples = soak_samples(end_kafka_mib=1_101)

    failures = verdict([], growth(samples, LIMITS), restarts(samples), samples, LIMITS)

    assert failures == ["kafka: grew +10.1% (limit +10%)"]


def test_a_clean_soak_passes() -> None:
    samples = soak_samples(end_kafka_mib=1_050)

    assert verdict([], growth(samples, LIMITS), restarts(samples), samples, LIMITS) == []


def test_a_restarted_program_fails_the_verdict() -> None:
    samples = [sample(0), sample(10, kafka_pid=11), sample(20, kafka_pid=11)]

    found = restarts(samples)

    assert found == ["kafka: pid 10 → 11 at 10 s"]
    assert verdict([], None, found, samples, LIMITS) == ["restarted: kafka: pid 10 → 11 at 10 s"]


def test_a_stack_over_6_gib_at_any_sample_fails_the_verdict() -> None:
    samples = [sample(0), sample(10, kafka_mib=5 * 1024), sample(20)]

    failures = verdict([], None, [], samples, LIMITS)

    assert failures == ["the stack's RSS reached 6.46 GiB at 10 s (limit 6 GiB)"]
    assert sample(0).stack < 6 * GIB


def test_differences_fail_the_verdict_as_not_exact() -> None:
    failures = verdict(["AAPL: sent 10, Kafka holds 9"], None, [], [sample(0)], LIMITS)

    assert failures == ["not exact: AAPL: sent 10, Kafka holds 9"]


def test_growth_does_not_apply_under_6_minutes() -> None:
    samples = soak_samples(minutes=5)

    reason = growth_not_applicable(5, samples, LIMITS)

    assert reason is not None and reason.startswith("not applicable: 5 min < 6")
    assert growth_not_applicable(6, soak_samples(minutes=6), LIMITS) is None


def test_the_loads_trades_are_counted_per_symbol() -> None:
    runs = [LoadRun("a", 20, 10), LoadRun("b", 5, 10)]

    sent = sent_per_symbol(runs)

    assert sum(sent.values()) == 25
    assert sent["PROBE"] == 3  # trades 0 and 10 of the first run, 0 of the second


def window(differences: list[str] | None = None) -> WindowReport:
    return WindowReport(
        sent=Counter({"AAPL": 600, "PROBE": 6}),
        in_kafka=Counter({"AAPL": 600, "PROBE": 6}),
        in_cassandra=Counter({"AAPL": 600, "PROBE": 6}),
        bars_checked=10,
        differences=differences or [],
    )


def test_a_short_soak_still_checks_exactness_and_says_growth_does_not_apply() -> None:
    args = argparse.Namespace(minutes=5, rate=1_000, sample_seconds=10)
    samples = soak_samples(minutes=5)

    result = result_json(args, 300_000, window(["AAPL: sent 600, Kafka holds 599"]), 3.2, samples, LIMITS, [])

    assert result["growth"]["applicable"] is False
    assert result["growth"]["not_applicable"].startswith("not applicable")
    assert result["exactness"]["exact"] is False
    assert result["verdict"] == {"passed": False, "failures": ["not exact: AAPL: sent 600, Kafka holds 599"]}


def test_the_soak_json_holds_figures_verdict_and_samples() -> None:
    args = argparse.Namespace(minutes=30, rate=1_000, sample_seconds=10)
    samples = soak_samples()

    result = result_json(args, 1_800_000, window(), 4.0, samples, LIMITS, [])

    assert result["verdict"] == {"passed": True, "failures": []}
    assert result["exactness"]["exact"] is True
    assert result["exactness"]["sent"] == 606
    assert result["growth"]["by_tree"]["kafka"]["growth"] == 0.05
    assert result["stack"]["peak_bytes"] == 2_550 * MIB
    assert result["stack"]["limit_bytes"] == 6 * GIB
    assert len(result["samples"]) == len(samples)
    assert result["samples"][0]["rss_bytes"][SPARK_JOB] == 1_200 * MIB
    assert result["samples"][0]["stack_bytes"] == 2_500 * MIB


def test_an_empty_window_is_not_exact() -> None:
    args = argparse.Namespace(minutes=30, rate=1_000, sample_seconds=10)

    result = result_json(args, 0, WindowReport(), 0.0, soak_samples(), LIMITS, [])

    assert result["exactness"]["differences"] == ["nothing was sent in the window"]
    assert result["verdict"]["passed"] is False


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
    assert taken.spark_job is None
