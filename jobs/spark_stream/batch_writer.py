"""The load step, driver side: `BatchWriter.write_batch` is the one function through which the job writes
anything. It runs the batch's tasks (`executor_task`), fails the batch on a failed task, recomputes the
windows two tasks shared, and feeds the metrics and the batch's log line.

Per micro-batch: dead letters, then trades, then the bars of every minute the batch touched, recomputed
from `trades_v2`. All writes are idempotent upserts; any failure fails the batch so Spark replays it.
"""

from __future__ import annotations

import collections
import functools
import logging
import re
from collections.abc import Callable, Sequence

from pyspark.sql import DataFrame, SparkSession

from jobs.spark_stream.cassandra_writer import CassandraTarget, CassandraWriteError
from jobs.spark_stream.cql import Window
from jobs.spark_stream.executor_task import (
    CASSANDRA_WRITERS,
    TableWriters,
    TaskOutcome,
    wall_clock_ms,
    write_spark_partition,
)
from jobs.spark_stream.metrics import LATENCY_BOUNDS_SECONDS, BatchStats, EventTimeClock, StreamMetrics
from services import contracts

log = logging.getLogger(__name__)


def error_summary(error: BaseException) -> str:
    """The innermost Python exception line of an error a Spark action re-raised from a worker."""
    python_part = str(error).split("JVM stacktrace:", 1)[0]
    lines = [line for line in python_part.splitlines() if re.match(r"[A-Za-z_][\w.]*: ", line)]
    return lines[-1] if lines else repr(error)


class BatchWriter:
    """The driver's side of every write. Holds only driver-side state: the metrics and the event-time clock.

    A batch is one Spark job: each task writes its Spark partition's rows and the bars they touch, and sends
    back its figures (`TaskOutcome`). A window that two tasks shared is recomputed once more after both.
    """

    def __init__(
        self,
        target: CassandraTarget,
        metrics: StreamMetrics,
        event_time: EventTimeClock,
        now_ms: Callable[[], int] = wall_clock_ms,
        writers: TableWriters = CASSANDRA_WRITERS,
    ) -> None:
        self.target, self.metrics, self.event_time = target, metrics, event_time
        self.now_ms, self.writers = now_ms, writers

    def write_batch(self, outcome_rows: DataFrame, epoch_id: int, started_ms: int) -> None:
        """Write one micro-batch's `transforms.outcome_rows`; `started_ms` (the driver's clock when the
        batch began) is the rows' `ingested_at`/`rejected_at` and, in µs, the bars' write time."""
        spark = outcome_rows.sparkSession
        # At most one task per core: the batch then finishes in one wave of tasks, not two (3 Kafka
        # partitions on 2 cores). Coalescing joins whole Kafka partitions, so a symbol stays in one task.
        cores = spark.sparkContext.defaultParallelism
        outcomes = (
            outcome_rows.coalesce(cores)
            .rdd.mapPartitions(
                functools.partial(
                    write_spark_partition,
                    self.writers,
                    self.target,
                    written_at_ms=started_ms,
                    late_before_ms=self.event_time.late_before_ms(),
                    bounds=LATENCY_BOUNDS_SECONDS,
                )
            )
            .collect()
        )
        self._fail_on_failed_tasks(epoch_id, outcomes)

        rejected: collections.Counter[str] = collections.Counter()
        stats = BatchStats.empty(LATENCY_BOUNDS_SECONDS)
        windows: collections.Counter[Window] = collections.Counter()
        slowest_ms: dict[str, int] = {}
        for outcome in outcomes:
            for table, ms in outcome.write_ms:
                slowest_ms[table] = max(ms, slowest_ms.get(table, 0))
            rejected.update(outcome.dead_letters)
            stats += outcome.trades
            windows.update(outcome.windows)
        self.metrics.rows_written.labels(table=contracts.DEAD_LETTER_TABLE).inc(rejected.total())
        self.metrics.rows_written.labels(table=contracts.TRADES_TABLE).inc(stats.trade_count)
        self.metrics.rows_written.labels(table=contracts.AGGREGATES_TABLE).inc(windows.total())
        shared = sorted(window for window, tasks in windows.items() if tasks > 1)
        self._recompute_shared_windows(epoch_id, spark, shared, started_ms)

        self.metrics.records_read.inc(stats.trade_count + rejected.total())
        for reason, count in rejected.items():
            self.metrics.dead_letters.labels(reason=reason).inc(count)
        self.metrics.record_trade_stats(stats)
        self.event_time.advance(stats.max_trade_ts_ms)
        self.metrics.last_batch_completed.set(self.now_ms() / 1000)
        log.info(
            "event=batch_written epoch=%d records=%d trades=%d dead_letters=%d late=%d bars=%d "
            "shared_bars=%d duration_ms=%d slowest_task_write_ms=%s",
            epoch_id,
            stats.trade_count + rejected.total(),
            stats.trade_count,
            rejected.total(),
            stats.late_count,
            len(windows),
            len(shared),
            self.now_ms() - started_ms,
            ",".join(f"{table}:{ms}" for table, ms in sorted(slowest_ms.items())) or "none",
        )

    def _fail_on_failed_tasks(self, epoch_id: int, outcomes: Sequence[TaskOutcome]) -> None:
        """Count and log each table a task failed to write, then fail the batch (Spark replays it)."""
        failed_rows: collections.Counter[str] = collections.Counter()
        errors: dict[str, str] = {}
        for outcome in outcomes:
            if outcome.failed_table is not None:
                failed_rows[outcome.failed_table] += outcome.failed_rows
                errors.setdefault(outcome.failed_table, outcome.error or "")
        for table, rows in failed_rows.items():
            self._count_failure(epoch_id, table, rows, errors[table])
        if errors:
            raise CassandraWriteError(f"batch {epoch_id}: " + "; ".join(errors.values()))

    def _count_failure(self, epoch_id: int, table: str, rows: int, error: str) -> None:
        self.metrics.write_failures.labels(table=table).inc()
        log.error(  # one line; the full trace is already in Spark's log
            "event=batch_write_failed epoch=%d table=%s rows=%d error=%s", epoch_id, table, rows, error
        )

    def _recompute_shared_windows(
        self, epoch_id: int, spark: SparkSession, windows: list[Window], started_ms: int
    ) -> None:
        """Recompute and upsert the bars of `windows` on the executors, now that every task has written."""
        if not windows:
            return
        slices = min(len(windows), spark.sparkContext.defaultParallelism)
        recompute = functools.partial(
            self.writers.bars,
            self.target,
            updated_at_ms=self.now_ms(),
            # Later than the tasks' writes of these bars (batch start in µs), whatever the executors' clocks.
            write_time_us=started_ms * 1000 + 1,
        )
        try:
            spark.sparkContext.parallelize(windows, slices).foreachPartition(recompute)
        except Exception as error:
            self._count_failure(epoch_id, contracts.AGGREGATES_TABLE, len(windows), error_summary(error))
            raise
        self.metrics.rows_written.labels(table=contracts.AGGREGATES_TABLE).inc(len(windows))
