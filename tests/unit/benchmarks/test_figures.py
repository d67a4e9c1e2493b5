"""The benchmarks' shared figures: latency percentiles over probes, a missing probe slower than all (pure)."""

from __future__ import annotations

from benchmarks.figures import percentile, probe_latency, summary
from testkit.stream import ProbeTimes


def test_percentiles_index_the_sorted_latencies_by_count() -> None:
    latencies = [n / 100 for n in range(100, 0, -1)]  # 1.00 down to 0.01 s

    result = summary(latencies, 100)

    assert result == {"p50_s": 0.51, "p99_s": 1.0, "max_s": 1.0, "missing": 0}


def test_a_probe_never_seen_counts_as_slower_than_every_seen_one() -> None:
    seen = [0.1] * 98  # two of 100 never arrived

    result = summary(seen, 100)

    assert result["p50_s"] == 0.1
    assert result["p99_s"] is None  # the 99th percentile is one of the two missing
    assert result["max_s"] == 0.1
    assert result["missing"] == 2


def test_no_probe_seen_has_no_percentile_and_no_max() -> None:
    assert summary([], 10) == {"p50_s": None, "p99_s": None, "max_s": None, "missing": 10}
    assert percentile([], 0, 0.5) is None


def test_probe_latency_times_row_and_bar_from_the_send() -> None:
    probes = [ProbeTimes(100.0, 100.25, 101.0), ProbeTimes(200.0, 200.5, None)]

    result = probe_latency(probes)

    assert result["row"] == {"p50_s": 0.5, "p99_s": 0.5, "max_s": 0.5, "missing": 0}
    assert result["bar"] == {"p50_s": None, "p99_s": None, "max_s": 1.0, "missing": 1}
