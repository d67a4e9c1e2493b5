"""Metric math: consumer lag from progress offsets, the late-trade threshold, batch-fed histograms."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from jobs.spark_stream import metrics
from jobs.spark_stream.metrics import (
    BatchStats,
    CumulativeHistogram,
    EventTimeClock,
    StreamMetrics,
    TradeTimes,
    kafka_offsets_behind,
)
from services import contracts


def test_offsets_behind_is_latest_minus_end_per_partition() -> None:
    end = '{"trades":{"0":100,"1":250}}'
    latest = '{"trades":{"0":130,"1":250}}'
    assert kafka_offsets_behind(end, latest) == {("trades", 0): 30, ("trades", 1): 0}


def test_offsets_behind_leaves_out_partitions_the_query_has_not_read() -> None:
    assert kafka_offsets_behind('{"trades":{"0":5}}', '{"trades":{"0":5,"1":9}}') == {("trades", 0): 0}


@pytest.mark.parametrize(
    ("end", "latest"), [(None, '{"t":{"0":1}}'), ('{"t":{"0":1}}', None), ("", ""), ("41", "42")]
)
def test_offsets_behind_is_empty_without_both_offsets(end: str | None, latest: str | None) -> None:
    assert kafka_offsets_behind(end, latest) == {}


def test_no_trade_is_late_before_the_first_batch() -> None:
    assert EventTimeClock(watermark_ms=10_000).late_before_ms() is None


def test_late_threshold_is_the_watermark_behind_the_largest_trade_time_seen() -> None:
    clock = EventTimeClock(watermark_ms=10_000)
    clock.advance(1_000_000)
    clock.advance(900_000)  # an older batch does not move event time back
    clock.advance(None)  # nor does a batch without trades
    assert clock.late_before_ms() == 990_000


def test_histogram_exposes_batch_fed_buckets_count_and_sum() -> None:
    registry = CollectorRegistry()
    histogram = CumulativeHistogram("demo_seconds", "demo", [0.5, 1.0])
    registry.register(histogram)
    histogram.add([1, 2], count=3, total=4.5)
    histogram.add([0, 1], count=1, total=0.75)

    def sample(suffix: str, **labels: str) -> float | None:
        return registry.get_sample_value(f"demo_seconds{suffix}", labels)

    assert [sample("_bucket", le=le) for le in ("0.5", "1.0", "+Inf")] == [1.0, 3.0, 4.0]
    assert (sample("_count"), sample("_sum")) == (4.0, 5.25)


def test_histogram_refuses_a_batch_with_the_wrong_number_of_buckets() -> None:
    with pytest.raises(ValueError, match="2 bucket counts for 3 bounds"):
        CumulativeHistogram("demo_seconds", "demo", [1, 2, 3]).add([1, 1], count=1, total=1.0)


def test_batch_stats_feed_late_trades_and_latency() -> None:
    registry = CollectorRegistry()
    stream_metrics = StreamMetrics(registry)
    trades = [TradeTimes(trade_ts_ms=ts, received_at_ms=9_500) for ts in (100, 200, 300, 400)]
    stream_metrics.record_trade_stats(BatchStats.of(trades, 150, 10_000, metrics.LATENCY_BOUNDS_SECONDS))

    assert registry.get_sample_value(metrics.LATE_TRADES) == 1.0
    assert registry.get_sample_value(f"{metrics.END_TO_END_LATENCY}_count") == 4.0
    assert registry.get_sample_value(f"{metrics.END_TO_END_LATENCY}_sum") == 2.0


def test_batch_stats_count_trades_before_the_late_threshold() -> None:
    threshold = 1_700_000_000_000
    trades = [TradeTimes(ts, 0) for ts in (threshold - 1, threshold, threshold + 5_000)]
    stats = BatchStats.of(trades, threshold, 0, [])

    assert (stats.trade_count, stats.late_count, stats.max_trade_ts_ms) == (3, 1, threshold + 5_000)


def test_batch_stats_have_no_late_trades_before_any_threshold_exists() -> None:
    assert BatchStats.of([TradeTimes(1, 0)], None, 0, []).late_count == 0


def test_batch_stats_latency_buckets_are_cumulative() -> None:
    written_at_ms = 1_700_000_010_000
    latencies_s = [0.05, 0.3, 0.3, 2.0, 45.0, 0.1]
    trades = [TradeTimes(0, written_at_ms - round(s * 1000)) for s in latencies_s]
    stats = BatchStats.of(trades, None, written_at_ms, [0.1, 0.5, 1.0, 10.0])

    assert stats.latency_cumulative_counts == (2, 4, 4, 5)  # a latency equal to a bound is within it
    assert stats.latency_sum_seconds == pytest.approx(sum(latencies_s))


def test_batch_stats_of_no_trades_are_zero() -> None:
    assert BatchStats.of([], 5, 0, [1.0]) == BatchStats(0, None, 0, 0.0, (0,))


def test_offsets_behind_become_one_gauge_per_topic_partition() -> None:
    registry = CollectorRegistry()
    StreamMetrics(registry).record_offsets_behind({("trades", 0): 30, ("trades", 1): 0})
    assert (
        registry.get_sample_value(metrics.KAFKA_OFFSETS_BEHIND, {"topic": "trades", "partition": "0"}) == 30
    )
    assert registry.get_sample_value(metrics.KAFKA_OFFSETS_BEHIND, {"topic": "trades", "partition": "1"}) == 0


def test_every_documented_metric_name_is_exposed() -> None:
    registry = CollectorRegistry()
    StreamMetrics(registry)
    exposed = {family.name for family in registry.collect()}
    names = {value for key, value in vars(metrics).items() if key.isupper() and isinstance(value, str)}
    # prometheus_client reports counters without their _total suffix.
    assert {name.removesuffix("_total") for name in names} == exposed


def test_exposed_metric_names_are_the_contracts_spark_names() -> None:
    registry = CollectorRegistry()
    StreamMetrics(registry)
    exposed = {family.name for family in registry.collect()}
    names = {
        value for key, value in vars(contracts).items() if key.startswith("SPARK_") and isinstance(value, str)
    }
    assert {name.removesuffix("_total") for name in names} == exposed
