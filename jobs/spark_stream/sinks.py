"""The Cassandra side of the job: `BatchWriter.write_batch` is the one function that writes anything.

Per micro-batch: dead letters, then trades, then the bars of every minute the batch touched, recomputed
from `trades_v2`. All writes are idempotent upserts; any failure fails the batch so Spark replays it.
"""

from __future__ import annotations

import collections
import functools
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import Any, NamedTuple, TypeVar

from cassandra.query import UNSET_VALUE
from pyspark.sql import DataFrame, Row, SparkSession

from jobs.spark_stream import transforms
from jobs.spark_stream.bars import BAR_WINDOW_MS, Bar, BarTrade, compute_bar, window_start_ms
from jobs.spark_stream.cassandra_client import (
    CassandraTarget,
    CassandraWriteError,
    execute_all,
    execute_batched,
)
from jobs.spark_stream.metrics import (
    LATENCY_BOUNDS_SECONDS,
    BatchStats,
    EventTimeClock,
    StreamMetrics,
    TradeTimes,
)
from services import contracts

log = logging.getLogger(__name__)

_Item = TypeVar("_Item")

CHUNK_ROWS = 10_000
"""Rows handed to the driver's concurrent executor at once, to bound an executor's memory."""

TRADES_INSERT = (
    f"INSERT INTO {contracts.TRADES_TABLE} (symbol, trade_year, trade_month, trade_day, timestamp, trade_id, "
    "price, volume, conditions, received_at, kafka_partition, kafka_offset, ingested_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
DEAD_LETTERS_INSERT = (
    f"INSERT INTO {contracts.DEAD_LETTER_TABLE} (source, day, kafka_topic, kafka_partition, kafka_offset, "
    "reason, detail, raw, kafka_key, kafka_timestamp, rejected_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
WINDOW_TRADES_SELECT = (
    "SELECT toUnixTimestamp(timestamp) AS trade_ts_ms, trade_id, price, volume "
    f"FROM {contracts.TRADES_TABLE} WHERE symbol = ? AND trade_year = ? AND trade_month = ? "
    "AND trade_day = ? AND timestamp >= ? AND timestamp < ?"
)
BAR_UPSERT = (
    f"INSERT INTO {contracts.AGGREGATES_TABLE} (symbol, trade_year, trade_month, window_start, window_end, "
    "open, high, low, close, volume, trade_count, vwap, mean_price, stddev_price, first_trade_ts, "
    "last_trade_ts, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?"
)
"""The write time is the driver's, not the executor's clock, so that a later recompute of a bar always
wins over an earlier one (see `BatchWriter`)."""


class Window(NamedTuple):
    """A (symbol, minute) a batch wrote trades into, with the `trades_v2` partition that holds them all
    (a UTC day is a whole number of windows, so a window never spans two partitions)."""

    symbol: str
    trade_year: int
    trade_month: int
    trade_day: int
    window_start_ms: int


def _chunks(items: Iterable[_Item], size: int = CHUNK_ROWS) -> Iterator[list[_Item]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def upsert_rows(
    target: CassandraTarget,
    cql: str,
    params: Iterable[tuple[Any, ...]],
    table: str,
    partition_columns: int | None = None,
) -> None:
    """Run the upsert `cql` on `table` once per parameter tuple, CHUNK_ROWS tuples at a time; with
    `partition_columns` (the leading values that form the partition key) as single-partition batches.

    Every write to Cassandra goes through here; the consistency level and concurrency are `target`'s.
    """
    for chunk in _chunks(params):
        if partition_columns is None:
            execute_all(target, cql, chunk, table)
        else:
            execute_batched(target, cql, chunk, partition_columns, table)


def _trade_params(trade: Row, ingested_at_ms: int) -> tuple[Any, ...]:
    """A `trade` of `transforms.outcome_rows` bound to TRADES_INSERT (epoch ms bind as is)."""
    return (
        trade.symbol,
        trade.trade_year,
        trade.trade_month,
        trade.trade_day,
        trade.trade_ts_ms,
        trade.trade_id,
        trade.price,
        trade.volume,
        list(trade.conditions),
        trade.received_at_ms,
        trade.kafka_partition,
        trade.kafka_offset,
        ingested_at_ms,
    )


def _dead_letter_params(dead_letter: Row, rejected_at_ms: int) -> tuple[Any, ...]:
    """A `dead_letter` of `transforms.outcome_rows` bound to DEAD_LETTERS_INSERT."""
    return (
        dead_letter.source,
        dead_letter.day,
        dead_letter.kafka_topic,
        dead_letter.kafka_partition,
        dead_letter.kafka_offset,
        dead_letter.reason,
        dead_letter.detail,
        dead_letter.raw,
        dead_letter.kafka_key,
        dead_letter.kafka_timestamp_ms,
        rejected_at_ms,
    )


def _bar_params(window: Window, bar: Bar, updated_at_ms: int, write_time_us: int) -> tuple[Any, ...]:
    """The bar computed for a window, bound to BAR_UPSERT."""
    return (
        window.symbol,
        window.trade_year,
        window.trade_month,
        window.window_start_ms,
        window.window_start_ms + BAR_WINDOW_MS,
        bar.open,
        bar.high,
        bar.low,
        bar.close,
        bar.volume,
        bar.trade_count,
        # Unset, not null: no tombstone. A window's volume never drops back to 0 (trades are only
        # added), so there is never an earlier non-null vwap to clear.
        UNSET_VALUE if bar.vwap is None else bar.vwap,
        bar.mean_price,
        bar.stddev_price,
        bar.first_trade_ts_ms,
        bar.last_trade_ts_ms,
        updated_at_ms,
        write_time_us,
    )


def write_trades_partition(target: CassandraTarget, trades: Iterable[Row], *, ingested_at_ms: int) -> None:
    """Upsert `trade` rows of `transforms.outcome_rows` into `trades_v2`."""
    # (symbol, trade_year, trade_month, trade_day): many trades of a batch share a partition.
    params = (_trade_params(trade, ingested_at_ms) for trade in trades)
    upsert_rows(target, TRADES_INSERT, params, contracts.TRADES_TABLE, partition_columns=4)


def write_dead_letters_partition(
    target: CassandraTarget, dead_letters: Iterable[Row], *, rejected_at_ms: int
) -> None:
    """Upsert `dead_letter` rows of `transforms.outcome_rows` into `dead_letters`."""
    params = (_dead_letter_params(dead_letter, rejected_at_ms) for dead_letter in dead_letters)
    upsert_rows(target, DEAD_LETTERS_INSERT, params, contracts.DEAD_LETTER_TABLE)


def recompute_bars_partition(
    target: CassandraTarget, windows: Iterable[Window], *, updated_at_ms: int, write_time_us: int
) -> None:
    """For each touched (symbol, minute): read its trades back from `trades_v2`, compute, upsert the bar."""
    for chunk in _chunks(windows, size=1_000):
        reads = execute_all(
            target,
            WINDOW_TRADES_SELECT,
            [
                (
                    w.symbol,
                    w.trade_year,
                    w.trade_month,
                    w.trade_day,
                    w.window_start_ms,
                    w.window_start_ms + BAR_WINDOW_MS,
                )
                for w in chunk
            ],
            contracts.TRADES_TABLE,
        )
        upserts: list[tuple[Any, ...]] = []
        for window, stored in zip(chunk, reads, strict=True):
            # The driver's rows have BarTrade's fields, in its order: no copy (a minute can hold thousands).
            trades: list[BarTrade] = list(stored)
            if not trades:
                # The batch has just written at least one trade here; not reading it back means the read
                # did not see the write (consistency level too low): fail rather than store a wrong bar.
                raise CassandraWriteError(
                    f"no trades read back for {window.symbol} window_start_ms={window.window_start_ms}; "
                    f"check CASSANDRA_CONSISTENCY (now {target.consistency})"
                )
            upserts.append(_bar_params(window, compute_bar(trades), updated_at_ms, write_time_us))
        upsert_rows(target, BAR_UPSERT, upserts, contracts.AGGREGATES_TABLE, partition_columns=3)


def error_summary(error: BaseException) -> str:
    """The innermost Python exception line of an error a Spark action re-raised from a worker."""
    python_part = str(error).split("JVM stacktrace:", 1)[0]
    lines = [line for line in python_part.splitlines() if re.match(r"[A-Za-z_][\w.]*: ", line)]
    return lines[-1] if lines else repr(error)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class PartitionWriters(NamedTuple):
    """What runs on the executors for each table; replaced in tests by writers that record their rows."""

    dead_letters: Callable[..., None] = write_dead_letters_partition
    trades: Callable[..., None] = write_trades_partition
    bars: Callable[..., None] = recompute_bars_partition


CASSANDRA_WRITERS = PartitionWriters()


class TaskOutcome(NamedTuple):
    """What one task of a batch wrote (or failed to write), sent back to the driver."""

    dead_letters: dict[str, int]
    """Rejected records by reason."""
    trades: BatchStats
    windows: frozenset[Window]
    """The windows the task wrote trades into; it has recomputed their bars."""
    failed_table: str | None = None
    failed_rows: int = 0
    error: str | None = None
    write_ms: tuple[tuple[str, int], ...] = ()
    """Milliseconds spent writing each table (for the batch's log line)."""


def write_records_partition(
    writers: PartitionWriters,
    target: CassandraTarget,
    rows: Iterable[Row],
    *,
    written_at_ms: int,
    late_before_ms: int | None,
    bounds: Sequence[float],
) -> Iterator[TaskOutcome]:
    """One task of a batch: write its `transforms.outcome_rows` (dead letters, then trades), then recompute
    the bars of the windows its trades fall into; yield one outcome.

    The bars are right when no other task of the batch writes the same windows, which holds when the topic
    is keyed by symbol (the producer's contract); the driver recomputes any window two tasks shared.
    A failed write is reported in the outcome rather than raised, so the driver can name the table in its
    metric and log line; the driver then fails the batch. `written_at_ms` is the batch's `ingested_at` and
    `rejected_at`.
    """
    trades: list[Row] = []
    dead_letters: list[Row] = []
    for row in rows:
        if row.trade is not None:
            trades.append(row.trade)
        else:
            dead_letters.append(row.dead_letter)
    by_reason = dict(collections.Counter(dead_letter.reason for dead_letter in dead_letters))
    windows = frozenset(
        Window(t.symbol, t.trade_year, t.trade_month, t.trade_day, window_start_ms(t.trade_ts_ms))
        for t in trades
    )
    steps: list[tuple[str, int, Callable[[], None]]] = [
        (
            contracts.DEAD_LETTER_TABLE,
            len(dead_letters),
            lambda: writers.dead_letters(target, dead_letters, rejected_at_ms=written_at_ms),
        ),
        (
            contracts.TRADES_TABLE,
            len(trades),
            lambda: writers.trades(target, trades, ingested_at_ms=written_at_ms),
        ),
        (
            contracts.AGGREGATES_TABLE,
            len(windows),
            lambda: writers.bars(
                target, sorted(windows), updated_at_ms=_now_ms(), write_time_us=written_at_ms * 1000
            ),
        ),
    ]
    finished_ms: dict[str, int] = {}
    write_ms: dict[str, int] = {}
    for table, count, write in steps:
        if not count:
            continue
        step_started_ms = _now_ms()
        try:
            write()
        except Exception as error:
            log.exception("event=partition_write_failed table=%s rows=%d", table, count)
            failure = f"{type(error).__name__}: {error}"
            yield TaskOutcome(by_reason, BatchStats.empty(bounds), frozenset(), table, count, failure)
            return
        finished_ms[table] = _now_ms()
        write_ms[table] = finished_ms[table] - step_started_ms
    times = [TradeTimes(t.trade_ts_ms, t.received_at_ms) for t in trades]
    # Latency runs to when this task's trades were written (without trades, there is none to measure).
    trades_written_ms = finished_ms.get(contracts.TRADES_TABLE, written_at_ms)
    stats = BatchStats.of(times, late_before_ms, trades_written_ms, bounds)
    yield TaskOutcome(by_reason, stats, windows, write_ms=tuple(write_ms.items()))


class BatchWriter:
    """The `foreachBatch` sink. Holds only driver-side state: the metrics and the event-time clock.

    A batch is one Spark job: each task writes its records and the bars they touch, and sends back its
    figures (`TaskOutcome`). A window that two tasks shared is recomputed once more after both.
    """

    def __init__(
        self,
        target: CassandraTarget,
        metrics: StreamMetrics,
        event_time: EventTimeClock,
        now_ms: Callable[[], int] = _now_ms,
        writers: PartitionWriters = CASSANDRA_WRITERS,
    ) -> None:
        self.target, self.metrics, self.event_time = target, metrics, event_time
        self.now_ms, self.writers = now_ms, writers

    def write_batch(self, kafka_records: DataFrame, epoch_id: int) -> None:
        started_ms = self.now_ms()
        parsed = transforms.parse_trade_records(
            kafka_records, oldest_trade_ts_ms=transforms.retention_limit_ms(started_ms)
        )
        # At most one task per core: the batch then finishes in one wave of tasks, not two (3 Kafka
        # partitions on 2 cores). Coalescing joins whole Kafka partitions, so a symbol stays in one task.
        cores = kafka_records.sparkSession.sparkContext.defaultParallelism
        outcomes = (
            transforms.outcome_rows(parsed)
            .coalesce(cores)
            .rdd.mapPartitions(
                functools.partial(
                    write_records_partition,
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
        self._recompute_bars(epoch_id, kafka_records.sparkSession, shared, started_ms)

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

    def _recompute_bars(
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
