"""The Cassandra side of the job: `BatchWriter.write_batch` is the one function that writes anything.

Per micro-batch: dead letters, then trades, then the bars of every minute the batch touched, recomputed
from `trades_v2`. All writes are idempotent upserts; any failure fails the batch so Spark replays it.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any, NamedTuple, TypeVar

from cassandra.query import UNSET_VALUE
from pyspark.sql import DataFrame, Row

from jobs.spark_stream import transforms
from jobs.spark_stream.bars import BAR_WINDOW_MS, Bar, BarTrade, compute_bar
from jobs.spark_stream.cassandra_client import (
    CassandraTarget,
    CassandraWriteError,
    execute_all,
    execute_batched,
)
from jobs.spark_stream.metrics import LATENCY_BOUNDS_SECONDS, BatchStats, EventTimeClock, StreamMetrics
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
    "last_trade_ts, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


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


def _trade_params(trade: Row) -> tuple[Any, ...]:
    """A `transforms.trade_rows` row bound to TRADES_INSERT (epoch ms bind as is)."""
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
        trade.ingested_at_ms,
    )


def _dead_letter_params(dead_letter: Row) -> tuple[Any, ...]:
    """A `transforms.dead_letter_rows` row bound to DEAD_LETTERS_INSERT."""
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
        dead_letter.rejected_at_ms,
    )


def _bar_params(window: Row, bar: Bar, updated_at_ms: int) -> tuple[Any, ...]:
    """The bar computed for a `transforms.touched_windows` row, bound to BAR_UPSERT."""
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
    )


def write_trades_partition(target: CassandraTarget, rows: Iterable[Row]) -> None:
    """Upsert one Spark partition of `transforms.trade_rows` into `trades_v2`."""
    # (symbol, trade_year, trade_month, trade_day): many trades of a batch share a partition.
    upsert_rows(target, TRADES_INSERT, map(_trade_params, rows), contracts.TRADES_TABLE, partition_columns=4)


def write_dead_letters_partition(target: CassandraTarget, rows: Iterable[Row]) -> None:
    """Upsert one Spark partition of `transforms.dead_letter_rows` into `dead_letters`."""
    upsert_rows(target, DEAD_LETTERS_INSERT, map(_dead_letter_params, rows), contracts.DEAD_LETTER_TABLE)


def recompute_bars_partition(target: CassandraTarget, windows: Iterable[Row], *, updated_at_ms: int) -> None:
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
            trades = [BarTrade(t.trade_ts_ms, t.trade_id, t.price, t.volume) for t in stored]
            if not trades:
                # The batch has just written at least one trade here; not reading it back means the read
                # did not see the write (consistency level too low): fail rather than store a wrong bar.
                raise CassandraWriteError(
                    f"no trades read back for {window.symbol} window_start_ms={window.window_start_ms}; "
                    f"check CASSANDRA_CONSISTENCY (now {target.consistency})"
                )
            upserts.append(_bar_params(window, compute_bar(trades), updated_at_ms))
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


class BatchWriter:
    """The `foreachBatch` sink. Holds only driver-side state: the metrics and the event-time clock."""

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
        oldest_ms = started_ms - contracts.TRADES_TTL_SECONDS * 1000
        parsed = transforms.parse_trade_records(kafka_records, oldest_trade_ts_ms=oldest_ms).persist()
        try:
            # One pass fills the cache and counts the batch's outcomes; reason None means a valid trade.
            outcomes = {row[0]: row[1] for row in parsed.groupBy("reject_reason").count().collect()}
            records = sum(outcomes.values())
            rejected = {reason: count for reason, count in outcomes.items() if reason is not None}
            dead_letters = transforms.dead_letter_rows(parsed, rejected_at_ms=started_ms)
            self._write(
                epoch_id,
                dead_letters,
                contracts.DEAD_LETTER_TABLE,
                self.writers.dead_letters,
                sum(rejected.values()),
            )
            trades = transforms.trade_rows(parsed, ingested_at_ms=started_ms)
            self._write(
                epoch_id,
                trades,
                contracts.TRADES_TABLE,
                self.writers.trades,
                records - sum(rejected.values()),
            )
            written_at_ms = self.now_ms()
            # An aggregate without grouping has exactly one row, even over no trades.
            (stats_row,) = transforms.trade_batch_stats(
                trades, self.event_time.late_before_ms(), written_at_ms, LATENCY_BOUNDS_SECONDS
            ).collect()
            stats = BatchStats.from_row(stats_row.asDict(), LATENCY_BOUNDS_SECONDS)
            self._write(
                epoch_id,
                transforms.touched_windows(trades),
                contracts.AGGREGATES_TABLE,
                functools.partial(self.writers.bars, updated_at_ms=written_at_ms),
                stats.window_count,
            )
        finally:
            parsed.unpersist()

        self.metrics.records_read.inc(records)
        for reason, count in rejected.items():
            self.metrics.dead_letters.labels(reason=reason).inc(count)
        self.metrics.record_trade_stats(stats)
        self.event_time.advance(stats.max_trade_ts_ms)
        self.metrics.last_batch_completed.set(self.now_ms() / 1000)
        log.info(
            "event=batch_written epoch=%d records=%d trades=%d dead_letters=%d late=%d bars=%d "
            "duration_ms=%d",
            epoch_id,
            records,
            stats.trade_count,
            sum(rejected.values()),
            stats.late_count,
            stats.window_count,
            self.now_ms() - started_ms,
        )

    def _write(
        self,
        epoch_id: int,
        rows: DataFrame,
        table: str,
        write_partition: Callable[..., None],
        row_count: int,
    ) -> None:
        """Run `write_partition(target, rows)` on the executors; count and log a failure, then re-raise it."""
        if row_count == 0:
            return
        try:
            rows.foreachPartition(functools.partial(write_partition, self.target))
        except Exception as error:
            self.metrics.write_failures.labels(table=table).inc()
            log.error(  # one line; the full Python and JVM traces are already in Spark's log
                "event=batch_write_failed epoch=%d table=%s rows=%d error=%s",
                epoch_id,
                table,
                row_count,
                error_summary(error),
            )
            raise
        self.metrics.rows_written.labels(table=table).inc(row_count)
