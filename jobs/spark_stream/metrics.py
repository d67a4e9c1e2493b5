"""Prometheus metrics of the streaming job, served from the driver, and the pure math behind them.

`write_batch` feeds per-batch figures (rows written, dead letters, late trades, latency); the query listener
feeds Spark's progress (rates, batch duration, Kafka offsets behind). Names are documented in README.md.
"""

from __future__ import annotations

import bisect
import json
import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from services import contracts

# --- Metric names: `contracts.SPARK_*` (one source; the plugin, the alerts and the docs use them too), under
# the short names the job's code and tests use. Served on SPARK_METRICS_PORT (contracts.SPARK_METRICS_PORT).
RECORDS_READ = contracts.SPARK_RECORDS_READ
INPUT_ROWS_PER_SECOND = contracts.SPARK_INPUT_ROWS_PER_SECOND
PROCESSED_ROWS_PER_SECOND = contracts.SPARK_PROCESSED_ROWS_PER_SECOND
BATCH_DURATION = contracts.SPARK_BATCH_DURATION
END_TO_END_LATENCY = contracts.SPARK_END_TO_END_LATENCY
KAFKA_OFFSETS_BEHIND = contracts.SPARK_KAFKA_OFFSETS_BEHIND
ROWS_WRITTEN = contracts.SPARK_ROWS_WRITTEN
LATE_TRADES = contracts.SPARK_LATE_TRADES
DEAD_LETTERS = contracts.SPARK_DEAD_LETTERS
WRITE_FAILURES = contracts.SPARK_WRITE_FAILURES
LAST_BATCH_COMPLETED = contracts.SPARK_LAST_BATCH_COMPLETED
QUERY_ACTIVE = contracts.SPARK_QUERY_ACTIVE
BATCH_STEP = contracts.SPARK_BATCH_STEP

LATENCY_BOUNDS_SECONDS: tuple[float, ...] = (
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    1.5,
    2.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
)
BATCH_DURATION_BOUNDS_SECONDS: tuple[float, ...] = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
BATCH_STEP_BOUNDS_SECONDS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class BatchStep(StrEnum):
    """The steps a batch's wall time (Spark's `triggerExecution`) is split into: the `step` label of
    `spark_stream_batch_step_seconds`, and in the batch's log lines (`event=batch_written`,
    `event=batch_progress`)."""

    SPARK = "spark"
    """The rest of the batch: offsets, the write-ahead log and commit, planning."""
    COLLECT = "collect"
    """The batch's Spark job (reading Kafka, parsing, validating) and its rows' way to the driver."""
    DEAD_LETTERS = "dead_letters"
    """The dead-letter write."""
    TRADES = "trades_v2"
    """The trade write."""
    BARS = "bars"
    """The driver's bar step: the bar book, read-backs of the windows it lacks, the trade_aggregates write."""


class TradeTimes(NamedTuple):
    """The two times of a written trade that its metrics need."""

    trade_ts_ms: int
    received_at_ms: int


@dataclass(frozen=True)
class BatchStats:
    """Figures of the trades a batch wrote: count, newest trade time, late trades and latency buckets."""

    trade_count: int
    max_trade_ts_ms: int | None
    late_count: int
    latency_sum_seconds: float
    latency_cumulative_counts: tuple[int, ...]
    """For each bound: trades whose received -> written latency is <= the bound."""

    @classmethod
    def empty(cls, bounds: Sequence[float]) -> BatchStats:
        return cls(0, None, 0, 0.0, (0,) * len(bounds))

    @classmethod
    def of(
        cls,
        trades: Sequence[TradeTimes],
        late_before_ms: int | None,
        written_at_ms: int,
        bounds: Sequence[float],
    ) -> BatchStats:
        """The figures of `trades`, written at `written_at_ms`; late means before `late_before_ms`."""
        if not trades:
            return cls.empty(bounds)
        latencies = sorted((written_at_ms - trade.received_at_ms) / 1000 for trade in trades)
        return cls(
            trade_count=len(trades),
            max_trade_ts_ms=max(trade.trade_ts_ms for trade in trades),
            late_count=0
            if late_before_ms is None
            else sum(1 for trade in trades if trade.trade_ts_ms < late_before_ms),
            latency_sum_seconds=math.fsum(latencies),
            latency_cumulative_counts=tuple(bisect.bisect_right(latencies, bound) for bound in bounds),
        )


class EventTimeClock:
    """The largest trade time seen so far, and from it the time before which a trade counts as late.

    Like Spark's watermark, the threshold for a batch comes from the batches before it. It lives in the
    driver's memory only, so after a restart nothing is late until the first batch has been seen.
    """

    def __init__(self, watermark_ms: int) -> None:
        self.watermark_ms = watermark_ms
        self.max_trade_ts_ms: int | None = None

    def late_before_ms(self) -> int | None:
        return None if self.max_trade_ts_ms is None else self.max_trade_ts_ms - self.watermark_ms

    def advance(self, batch_max_trade_ts_ms: int | None) -> None:
        if batch_max_trade_ts_ms is not None and (
            self.max_trade_ts_ms is None or batch_max_trade_ts_ms > self.max_trade_ts_ms
        ):
            self.max_trade_ts_ms = batch_max_trade_ts_ms


class CumulativeHistogram(Collector):
    """A Prometheus histogram fed with whole batches of bucket counts (Spark counted them, not Python)."""

    def __init__(self, name: str, documentation: str, bounds: Sequence[float]) -> None:
        if list(bounds) != sorted(set(bounds)):
            raise ValueError(f"{name}: bucket bounds must be strictly increasing, got {bounds}")
        self.name, self.documentation, self.bounds = name, documentation, tuple(bounds)
        self.cumulative_counts = [0] * len(self.bounds)
        self.count = 0
        self.sum = 0.0

    def add(self, cumulative_counts: Sequence[int], count: int, total: float) -> None:
        if len(cumulative_counts) != len(self.bounds):
            raise ValueError(
                f"{self.name}: {len(cumulative_counts)} bucket counts for {len(self.bounds)} bounds"
            )
        for index, bucket_count in enumerate(cumulative_counts):
            self.cumulative_counts[index] += bucket_count
        self.count += count
        self.sum += total

    def collect(self) -> Iterable[HistogramMetricFamily]:
        buckets = [
            (floatToGoString(bound), float(n))
            for bound, n in zip(self.bounds, self.cumulative_counts, strict=True)
        ]
        buckets.append(("+Inf", float(self.count)))
        yield HistogramMetricFamily(self.name, self.documentation, buckets=buckets, sum_value=self.sum)


def kafka_offsets_behind(end_offset: str | None, latest_offset: str | None) -> dict[tuple[str, int], int]:
    """Records per (topic, Kafka partition) that Kafka had but the batch did not reach, from a progress
    report.

    Both arguments are the Kafka source's offset JSON, e.g. '{"trades":{"0":42,"1":40}}'. A Kafka partition
    missing from `end_offset` has not been read at all; it is left out rather than guessed.
    """
    if not end_offset or not latest_offset:
        return {}
    ends, latests = json.loads(end_offset), json.loads(latest_offset)
    if not isinstance(ends, dict) or not isinstance(latests, dict):
        return {}  # not a Kafka source's offsets (Spark's rate source counts rows)
    behind: dict[tuple[str, int], int] = {}
    for topic, kafka_partitions in latests.items():
        for kafka_partition, latest in kafka_partitions.items():
            end = ends.get(topic, {}).get(kafka_partition)
            if end is not None:
                behind[(topic, int(kafka_partition))] = max(0, int(latest) - int(end))
    return behind


class StreamMetrics:
    """Every metric of the job, registered in one registry (a fresh one per test)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.records_read = Counter(RECORDS_READ, "Kafka records read by the job", registry=registry)
        self.input_rows_per_second = Gauge(
            INPUT_ROWS_PER_SECOND,
            "Rate of Kafka records arriving, last batch (Spark progress)",
            registry=registry,
        )
        self.processed_rows_per_second = Gauge(
            PROCESSED_ROWS_PER_SECOND,
            "Rate of records processed, last batch (Spark progress)",
            registry=registry,
        )
        self.batch_duration = Histogram(
            BATCH_DURATION,
            "Wall time of a micro-batch, trigger to commit",
            buckets=BATCH_DURATION_BOUNDS_SECONDS,
            registry=registry,
        )
        self.end_to_end_latency = CumulativeHistogram(
            END_TO_END_LATENCY,
            "Time from the producer receiving a trade to its row being written to trades_v2",
            LATENCY_BOUNDS_SECONDS,
        )
        registry.register(self.end_to_end_latency)
        self.kafka_offsets_behind = Gauge(
            KAFKA_OFFSETS_BEHIND,
            "Kafka records after the last batch's end offset (consumer lag)",
            ["topic", "partition"],
            registry=registry,
        )
        self.rows_written = Counter(
            ROWS_WRITTEN, "Rows upserted into Cassandra", ["table"], registry=registry
        )
        self.late_trades = Counter(
            LATE_TRADES,
            "Trades older than the watermark behind the latest trade time (still stored)",
            registry=registry,
        )
        self.dead_letters = Counter(
            DEAD_LETTERS, "Kafka records rejected into the dead_letters table", ["reason"], registry=registry
        )
        self.write_failures = Counter(
            WRITE_FAILURES,
            "Cassandra writes of a batch that failed (the batch fails and is retried)",
            ["table"],
            registry=registry,
        )
        self.last_batch_completed = Gauge(
            LAST_BATCH_COMPLETED, "Unix time the last micro-batch finished writing", registry=registry
        )
        self.query_active = Gauge(QUERY_ACTIVE, "1 while the streaming query runs", registry=registry)
        self.batch_step = Histogram(
            BATCH_STEP,
            "Seconds of a micro-batch spent in each step (spark: everything but the job's own writes)",
            ["step"],
            buckets=BATCH_STEP_BOUNDS_SECONDS,
            registry=registry,
        )
        # Written by the batch (foreachBatch), read by the query listener: two of py4j's callback threads.
        self._written_ms: dict[int, dict[BatchStep, int]] = {}
        self._written_lock = threading.Lock()

    def record_written_steps(self, epoch_id: int, steps_ms: Mapping[BatchStep, int]) -> None:
        """The job's own steps of batch `epoch_id` (dead letters, trades, bars), observed now and kept until
        Spark reports the batch's wall time (`record_batch_time`)."""
        for step, ms in steps_ms.items():
            self.batch_step.labels(step=step.value).observe(ms / 1000)
        with self._written_lock:
            self._written_ms[epoch_id] = dict(steps_ms)
            for old in [epoch for epoch in self._written_ms if epoch < epoch_id - 100]:
                del self._written_ms[old]  # no progress came for these

    def record_batch_time(self, epoch_id: int, trigger_execution_ms: int) -> int | None:
        """Observe batch `epoch_id`'s Spark step, its wall time minus the job's own steps, and return it in ms
        (None for a batch whose writes were not recorded: one without data)."""
        with self._written_lock:
            written = self._written_ms.pop(epoch_id, None)
        if written is None:
            return None
        spark_ms = max(0, trigger_execution_ms - sum(written.values()))
        self.batch_step.labels(step=BatchStep.SPARK.value).observe(spark_ms / 1000)
        return spark_ms

    def record_trade_stats(self, stats: BatchStats) -> None:
        self.late_trades.inc(stats.late_count)
        self.end_to_end_latency.add(
            stats.latency_cumulative_counts, stats.trade_count, stats.latency_sum_seconds
        )

    def record_offsets_behind(self, behind: Mapping[tuple[str, int], int]) -> None:
        # The label keeps Kafka's own name, `partition` (alert rules and dashboards select on it).
        for (topic, kafka_partition), records in behind.items():
            self.kafka_offsets_behind.labels(topic=topic, partition=str(kafka_partition)).set(records)
