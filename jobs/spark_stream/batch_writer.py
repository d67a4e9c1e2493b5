"""The load step, driver side: `BatchWriter.write_batch` is the one function through which the job writes
anything. It runs the batch's tasks (`executor_task`), fails the batch on a failed task, runs the bar step
(`bar_book`), and feeds the metrics and the batch's log line.

Per micro-batch: dead letters, then trades (the tasks), then the bars of every minute the batch touched, each
a function of all of that minute's stored trades. All writes are idempotent upserts; any failure fails the
batch so Spark replays it.
"""

from __future__ import annotations

import collections
import functools
import logging
import re
from collections.abc import Callable, Sequence

from pyspark.sql import DataFrame

from jobs.spark_stream.bar_book import DEFAULT_MAX_TRADES, BarBook
from jobs.spark_stream.bars import BarTrade
from jobs.spark_stream.cassandra_writer import CassandraTarget, CassandraWriteError
from jobs.spark_stream.cql import Window
from jobs.spark_stream.executor_task import (
    CASSANDRA_WRITERS,
    TableWriters,
    TaskOutcome,
    wall_clock_ms,
    write_spark_partition,
)
from jobs.spark_stream.metrics import (
    LATENCY_BOUNDS_SECONDS,
    BatchStats,
    BatchStep,
    EventTimeClock,
    StreamMetrics,
)
from services import contracts

log = logging.getLogger(__name__)


def error_summary(error: BaseException) -> str:
    """The innermost Python exception line of an error a Spark action re-raised from a worker."""
    python_part = str(error).split("JVM stacktrace:", 1)[0]
    lines = [line for line in python_part.splitlines() if re.match(r"[A-Za-z_][\w.]*: ", line)]
    return lines[-1] if lines else repr(error)


class BatchWriter:
    """The driver's side of every write. Holds only driver-side state: the metrics, the event-time clock and
    the bar book.

    A batch is one Spark job: each task writes its Spark partition's dead letters and trades and sends back
    its figures and the trades it wrote (`TaskOutcome`). Then the driver's bar step adds those trades to the
    bar book (reading back from `trades_v2` the windows it does not hold) and writes the touched bars.
    """

    def __init__(
        self,
        target: CassandraTarget,
        metrics: StreamMetrics,
        event_time: EventTimeClock,
        now_ms: Callable[[], int] = wall_clock_ms,
        writers: TableWriters = CASSANDRA_WRITERS,
        bar_book_trades: int = DEFAULT_MAX_TRADES,
    ) -> None:
        self.target, self.metrics, self.event_time = target, metrics, event_time
        self.now_ms, self.writers = now_ms, writers
        self.bar_book = BarBook(bar_book_trades)
        self._last_bar_write_time_us = 0

    def write_batch(self, outcome_rows: DataFrame, epoch_id: int, started_ms: int) -> None:
        """Write one micro-batch's `transforms.outcome_rows`; `started_ms` (the driver's clock when the
        batch began) is the rows' `ingested_at`/`rejected_at` and, in µs, the bars' write time."""
        try:
            self._write_batch(outcome_rows, epoch_id, started_ms)
        except BaseException:
            # A failed batch may have written trades the book does not hold (a failed task's, or those of
            # tasks that succeeded beside it): empty it, so every window is read back whole from trades_v2.
            self.bar_book.clear()
            raise

    def _write_batch(self, outcome_rows: DataFrame, epoch_id: int, started_ms: int) -> None:
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
        bar_trades: dict[Window, list[BarTrade]] = {}
        for outcome in outcomes:
            rejected.update(outcome.dead_letters)
            stats += outcome.trades
            for window, trades in outcome.bar_trades.items():
                bar_trades.setdefault(window, []).extend(trades)
        bars_started_ms = self.now_ms()
        read_back = self._write_bars(epoch_id, bar_trades, started_ms)
        bars_ms = self.now_ms() - bars_started_ms

        self.metrics.rows_written.labels(table=contracts.DEAD_LETTER_TABLE).inc(rejected.total())
        self.metrics.rows_written.labels(table=contracts.TRADES_TABLE).inc(stats.trade_count)
        self.metrics.rows_written.labels(table=contracts.AGGREGATES_TABLE).inc(len(bar_trades))
        self.metrics.records_read.inc(stats.trade_count + rejected.total())
        for reason, count in rejected.items():
            self.metrics.dead_letters.labels(reason=reason).inc(count)
        self.metrics.record_trade_stats(stats)
        self.event_time.advance(stats.max_trade_ts_ms)
        slowest = slowest_task_steps(outcomes)
        self.metrics.record_written_steps(epoch_id, {**slowest, BatchStep.BARS: bars_ms})
        self.metrics.last_batch_completed.set(self.now_ms() / 1000)
        log.info(
            "event=batch_written epoch=%d records=%d trades=%d dead_letters=%d late=%d bars=%d "
            "bars_read_back=%d bar_book_trades=%d duration_ms=%d slowest_task_write_ms=%s bars_ms=%d",
            epoch_id,
            stats.trade_count + rejected.total(),
            stats.trade_count,
            rejected.total(),
            stats.late_count,
            len(bar_trades),
            read_back,
            self.bar_book.trade_count,
            self.now_ms() - started_ms,
            ",".join(f"{step.value}:{ms}" for step, ms in sorted(slowest.items())) or "none",
            bars_ms,
        )

    def _write_bars(self, epoch_id: int, bar_trades: dict[Window, list[BarTrade]], started_ms: int) -> int:
        """The bar step: the batch's trades into the bar book, the windows it does not hold read back from
        `trades_v2`, every touched window's bar upserted; return how many windows were read back.

        Bars are written at the batch's start time (µs, and always later than the previous batch's), so a
        later batch's bar wins over an earlier one in Cassandra whatever the order the writes land in.
        """
        if not bar_trades:
            return 0
        write_time_us = max(started_ms * 1000, self._last_bar_write_time_us + 1)
        try:
            to_read = self.bar_book.add(bar_trades)
            if to_read:
                for window, stored in zip(
                    to_read, self.writers.window_trades(self.target, to_read), strict=True
                ):
                    if not stored:
                        # The batch has just written at least one trade here; not reading it back means the
                        # read did not see the write (consistency level too low): fail, store no wrong bar.
                        raise CassandraWriteError(
                            f"no trades read back for {window.symbol} window_start_ms="
                            f"{window.window_start_ms}; check CASSANDRA_CONSISTENCY "
                            f"(now {self.target.connection.consistency})"
                        )
                    self.bar_book.load(window, stored)
            bars = [(window, self.bar_book.bar(window)) for window in sorted(bar_trades)]
            self.writers.bars(self.target, bars, updated_at_ms=self.now_ms(), write_time_us=write_time_us)
        except Exception as error:
            self._count_failure(epoch_id, contracts.AGGREGATES_TABLE, len(bar_trades), error_summary(error))
            raise
        self._last_bar_write_time_us = write_time_us
        self.bar_book.evict()
        return len(to_read)

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


TABLE_STEPS = {contracts.DEAD_LETTER_TABLE: BatchStep.DEAD_LETTERS, contracts.TRADES_TABLE: BatchStep.TRADES}


def slowest_task_steps(outcomes: Sequence[TaskOutcome]) -> dict[BatchStep, int]:
    """The write steps of the task that spent longest writing (the batch waited for it), in ms: one entry
    for each table any task wrote (0 when the slowest task wrote none of it)."""
    tables = {table for outcome in outcomes for table, _ in outcome.write_ms}
    if not tables:
        return {}
    slowest = dict(max(outcomes, key=lambda outcome: sum(ms for _, ms in outcome.write_ms)).write_ms)
    return {TABLE_STEPS[table]: slowest.get(table, 0) for table in tables}
