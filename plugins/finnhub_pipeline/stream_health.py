"""Is the streaming job stuck? Parses its Prometheus metrics and decides (pure, unit-tested).

Stuck means: no micro-batch completed for `stall_after_s` while the Kafka lag kept growing. A job that is
idle because no trades arrive (lag flat) is healthy. `sensors/spark_health.py` scrapes and acts; the metric
names are the job's, from `services.contracts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from services import contracts


@dataclass(frozen=True)
class StreamSample:
    """One scrape of the job's metrics endpoint."""

    observed_at: float  # Unix seconds, when the scrape happened
    last_batch_completed: float | None  # Unix seconds; None (or 0) until the first batch completes
    offsets_behind: float  # the job's own lag gauge, summed over partitions (updated only by batches)
    query_active: bool
    topic_end_offset: float | None = None  # sum of the topic's high watermarks, read from Kafka


@dataclass(frozen=True)
class StreamVerdict:
    stuck: bool
    reason: str


def parse_metrics(text: str, observed_at: float, topic_end_offset: float | None = None) -> StreamSample:
    """Reads the three metrics the decision needs from a Prometheus text exposition."""
    last_batch: float | None = None
    behind = 0.0
    active = False
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == contracts.SPARK_LAST_BATCH_COMPLETED:
                last_batch = sample.value if sample.value > 0 else None
            elif sample.name == contracts.SPARK_KAFKA_OFFSETS_BEHIND:
                behind += sample.value
            elif sample.name == contracts.SPARK_QUERY_ACTIVE:
                active = sample.value >= 1
    return StreamSample(observed_at, last_batch, behind, active, topic_end_offset)


def lag_growth(before: StreamSample, latest: StreamSample) -> float:
    """How much the lag grew between two scrapes. The job's own lag gauge freezes when the job does (only
    finished batches update it), while the topic's end offsets keep rising as trades arrive, so those are
    compared when both scrapes have them."""
    if before.topic_end_offset is not None and latest.topic_end_offset is not None:
        return latest.topic_end_offset - before.topic_end_offset
    return latest.offsets_behind - before.offsets_behind


def verdict(samples: Sequence[StreamSample], stall_after_s: float) -> StreamVerdict:
    """Decides from the scrapes of one job process (oldest first) whether to kill it.

    The job counts as stuck when, at the latest scrape, its last completed batch (or, before any batch,
    the first scrape of this process) is at least `stall_after_s` old, and the lag grew over that time:
    the lag (`lag_growth`) rose since the newest scrape at least `stall_after_s` old. With no
    batch completing, every record added to the topic is added to the lag.
    """
    if not samples:
        return StreamVerdict(False, "no metrics yet")
    latest = samples[-1]
    reference = latest.last_batch_completed or samples[0].observed_at
    quiet_for = latest.observed_at - reference
    if quiet_for < stall_after_s:
        return StreamVerdict(False, f"last batch {quiet_for:.0f} s ago (limit {stall_after_s:.0f} s)")
    window_start = latest.observed_at - stall_after_s
    earlier = [sample for sample in samples if sample.observed_at <= window_start]
    if not earlier:
        return StreamVerdict(False, f"no batch for {quiet_for:.0f} s, but watched for less than the limit")
    before = earlier[-1]
    grew = lag_growth(before, latest)
    if grew <= 0:
        return StreamVerdict(False, f"no batch for {quiet_for:.0f} s, but lag not growing: idle, not stuck")
    return StreamVerdict(
        True,
        f"no batch completed for {quiet_for:.0f} s (limit {stall_after_s:.0f} s) while lag grew "
        f"by {grew:.0f} records",
    )
