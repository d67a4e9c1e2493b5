"""The soak's verdict and the JSON it writes: growth from minute 5 within 10 %, no restart, the stack under
its limit, the window exact (pure; the soak itself runs live against the stack)."""

from __future__ import annotations

import argparse
from collections import Counter

from benchmarks.soak import Limits, growth_not_applicable, result_json, sent_per_symbol, verdict
from benchmarks.stack_memory import GIB, MIB, SPARK_JOB, growth, restarts
from testkit.stream import LoadRun
from testkit.window import WindowReport

from .memory_samples import sample, soak_samples

LIMITS = Limits()


def test_growth_over_10_percent_fails_the_verdict() -> None:
    samples = soak_samples(end_kafka_mib=1_101)

    failures = verdict([], growth(samples, LIMITS.growth_from_s), restarts(samples), samples, LIMITS)

    assert failures == ["kafka: grew +10.1% (limit +10%)"]


def test_a_clean_soak_passes() -> None:
    samples = soak_samples(end_kafka_mib=1_050)

    assert verdict([], growth(samples, LIMITS.growth_from_s), restarts(samples), samples, LIMITS) == []


def test_a_restarted_program_fails_the_verdict() -> None:
    samples = [sample(0), sample(10, kafka_pid=11), sample(20, kafka_pid=11)]

    assert verdict([], None, restarts(samples), samples, LIMITS) == ["restarted: kafka: pid 10 → 11 at 10 s"]


def test_a_stack_over_6_gib_at_any_sample_fails_the_verdict() -> None:
    samples = [sample(0), sample(10, kafka_mib=5 * 1024), sample(20)]

    failures = verdict([], None, [], samples, LIMITS)

    assert failures == ["the stack's memory (PSS) reached 6.17 GiB at 10 s (limit 6 GiB)"]
    assert sample(0).stack_pss < 6 * GIB


def test_the_stack_limit_is_checked_on_pss_not_on_rss_summed() -> None:
    samples = [sample(0, scheduler_mib=5_200)]  # RSS summed 6.05 GiB, PSS 5.76 GiB

    assert samples[0].stack_rss > 6 * GIB
    assert verdict([], None, [], samples, LIMITS) == []


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
    assert result["stack"]["peak_bytes"] == 2_250 * MIB
    assert result["stack"]["peak_rss_bytes"] == 2_550 * MIB
    assert result["stack"]["limit_bytes"] == 6 * GIB
    assert len(result["samples"]) == len(samples)
    assert result["samples"][0]["rss_bytes"][SPARK_JOB] == 1_200 * MIB
    assert result["samples"][0]["stack_pss_bytes"] == 2_200 * MIB
    assert result["samples"][0]["stack_rss_bytes"] == 2_500 * MIB


def test_an_empty_window_is_not_exact() -> None:
    args = argparse.Namespace(minutes=30, rate=1_000, sample_seconds=10)

    result = result_json(args, 0, WindowReport(), 0.0, soak_samples(), LIMITS, [])

    assert result["exactness"]["differences"] == ["nothing was sent in the window"]
    assert result["verdict"]["passed"] is False
