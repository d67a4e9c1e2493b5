from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from finnhub_pipeline import stream_health
from finnhub_pipeline.stream_health import StreamSample
from jobs.spark_stream import metrics as job_metrics
from services import contracts

STALL_S = 600.0


def test_metric_names_agree_with_the_spark_job() -> None:
    # The parser reads `contracts.SPARK_*`: the job must export its three gauges under exactly those names.
    registry = CollectorRegistry()
    job_metrics.StreamMetrics(registry)
    exported = {family.name for family in registry.collect()}
    assert {
        contracts.SPARK_LAST_BATCH_COMPLETED,
        contracts.SPARK_KAFKA_OFFSETS_BEHIND,
        contracts.SPARK_QUERY_ACTIVE,
    } <= exported


def test_parse_reads_the_jobs_own_exposition() -> None:
    registry = CollectorRegistry()
    metrics = job_metrics.StreamMetrics(registry)
    metrics.last_batch_completed.set(1_700_000_000)
    metrics.query_active.set(1)
    metrics.record_offsets_behind({("trades", 0): 5, ("trades", 1): 7})
    sample = stream_health.parse_metrics(generate_latest(registry).decode(), 1_700_000_010, 1234)
    assert sample == StreamSample(1_700_000_010, 1_700_000_000, 12.0, True, 1234)


def test_a_job_that_never_completed_a_batch_reports_none() -> None:
    registry = CollectorRegistry()
    job_metrics.StreamMetrics(registry)
    sample = stream_health.parse_metrics(generate_latest(registry).decode(), 5.0)
    assert sample.last_batch_completed is None
    assert sample.offsets_behind == 0
    assert not sample.query_active


def sample(at: float, last_batch: float | None, end_offset: float) -> StreamSample:
    return StreamSample(at, last_batch, 0.0, True, end_offset)


def test_recent_batch_is_healthy() -> None:
    samples = [sample(1000, 990, 100), sample(1700, 1650, 500)]
    assert not stream_health.verdict(samples, STALL_S).stuck


def test_no_batch_while_lag_grows_is_stuck() -> None:
    samples = [sample(t, 900, 100 + t) for t in range(1000, 1700, 60)]
    verdict = stream_health.verdict(samples, STALL_S)
    assert verdict.stuck
    assert verdict.reason == "no batch completed for 760 s (limit 600 s) while lag grew by 600 records"


def test_no_batch_while_no_trades_arrive_is_idle_not_stuck() -> None:
    samples = [sample(t, 900, 100) for t in range(1000, 1700, 60)]
    verdict = stream_health.verdict(samples, STALL_S)
    assert not verdict.stuck
    assert "idle" in verdict.reason


def test_a_job_never_completing_its_first_batch_is_timed_from_the_first_scrape() -> None:
    young = [sample(t, None, t) for t in range(1000, 1500, 60)]
    assert not stream_health.verdict(young, STALL_S).stuck
    old = [sample(t, None, t) for t in range(1000, 1700, 60)]
    assert stream_health.verdict(old, STALL_S).stuck


def test_an_old_last_batch_seen_only_briefly_is_not_judged_yet() -> None:
    # The sensor just started watching a job whose last batch is long ago: it needs a full window of
    # its own scrapes before it can say the lag grew.
    samples = [sample(5000, 1000, 100), sample(5060, 1000, 200)]
    verdict = stream_health.verdict(samples, STALL_S)
    assert not verdict.stuck
    assert "watched for less than the limit" in verdict.reason


def test_without_topic_offsets_the_jobs_lag_gauge_is_used() -> None:
    samples = [StreamSample(t, 900, float(t), True) for t in range(1000, 1700, 60)]
    assert stream_health.verdict(samples, STALL_S).stuck


def test_no_samples_is_not_stuck() -> None:
    assert not stream_health.verdict([], STALL_S).stuck


def test_lag_growth_never_mixes_topic_offsets_with_the_jobs_gauge() -> None:
    with_offsets = StreamSample(0, None, 50.0, True, 1_000_000)
    without = StreamSample(60, None, 80.0, True, None)
    assert stream_health.lag_growth(with_offsets, without) == 30.0
    assert stream_health.lag_growth(with_offsets, StreamSample(60, None, 0.0, True, 1_000_100)) == 100.0
