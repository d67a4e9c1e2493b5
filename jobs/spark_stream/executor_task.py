"""What each Spark task of a micro-batch runs on an executor: write its Spark partition's outcome rows (dead
letters, then trades) and report a `TaskOutcome` with the trades written, by window; and the table writers
(the bars' and their read-back run on the driver).

The driver side (`batch_writer`) ships `write_spark_partition` to the executors, adds the outcomes up and
runs the bar step; the CQL and its parameters are `cql`'s, the session and retries `cassandra_writer`'s.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import Any, NamedTuple, TypeVar

from pyspark.sql import Row

from jobs.spark_stream.bars import Bar, BarTrade, window_start_ms
from jobs.spark_stream.cassandra_writer import (
    CassandraTarget,
    execute_all,
    execute_batched,
)
from jobs.spark_stream.cql import (
    BAR_UPSERT,
    BARS_PARTITION_KEY_COLUMNS,
    DEAD_LETTERS_INSERT,
    TRADES_INSERT,
    TRADES_PARTITION_KEY_COLUMNS,
    WINDOW_TRADES_SELECT,
    Window,
    bar_params,
    dead_letter_params,
    trade_params,
    window_trades_params,
)
from jobs.spark_stream.metrics import BatchStats, TradeTimes
from services import contracts

log = logging.getLogger(__name__)

_Item = TypeVar("_Item")

CHUNK_ROWS = 10_000
"""Rows handed to the concurrent executor at once, to bound a task's memory."""
WINDOWS_PER_READ = 1_000
"""Windows whose trades are read back at once when the driver's bar book does not hold them."""


def wall_clock_ms() -> int:
    """Now, Unix epoch milliseconds, on this process's clock."""
    return time.time_ns() // 1_000_000


def _chunks(items: Iterable[_Item], size: int = CHUNK_ROWS) -> Iterator[list[_Item]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def upsert_rows(
    target: CassandraTarget,
    cql: str,
    params: Iterable[tuple[Any, ...]],
    table: str,
    partition_key_columns: int | None = None,
) -> None:
    """Run the upsert `cql` on `table` once per parameter tuple, CHUNK_ROWS tuples at a time; with
    `partition_key_columns` (the leading values that form the Cassandra partition key) as single-partition
    batches.

    Every write to Cassandra goes through here; the consistency level and concurrency are `target`'s.
    """
    for chunk in _chunks(params):
        if partition_key_columns is None:
            execute_all(target, cql, chunk, table)
        else:
            execute_batched(target, cql, chunk, partition_key_columns, table)


def write_trades(target: CassandraTarget, trades: Iterable[Row], *, ingested_at_ms: int) -> None:
    """Upsert `trade` rows of `transforms.outcome_rows` into `trades_v2`."""
    # Many trades of a batch share a Cassandra partition (a symbol's UTC day): batched per partition.
    params = (trade_params(trade, ingested_at_ms) for trade in trades)
    upsert_rows(
        target,
        TRADES_INSERT,
        params,
        contracts.TRADES_TABLE,
        partition_key_columns=TRADES_PARTITION_KEY_COLUMNS,
    )


def write_dead_letters(target: CassandraTarget, dead_letters: Iterable[Row], *, rejected_at_ms: int) -> None:
    """Upsert `dead_letter` rows of `transforms.outcome_rows` into `dead_letters`."""
    params = (dead_letter_params(dead_letter, rejected_at_ms) for dead_letter in dead_letters)
    upsert_rows(target, DEAD_LETTERS_INSERT, params, contracts.DEAD_LETTER_TABLE)


def read_window_trades(target: CassandraTarget, windows: Sequence[Window]) -> list[list[BarTrade]]:
    """Each window's stored trades, read back from `trades_v2` with one single-partition range query each
    (a window never spans two of its Cassandra partitions)."""
    stored: list[list[BarTrade]] = []
    for chunk in _chunks(windows, size=WINDOWS_PER_READ):
        reads = execute_all(
            target, WINDOW_TRADES_SELECT, [window_trades_params(w) for w in chunk], contracts.TRADES_TABLE
        )
        # The rows have BarTrade's fields, in its order (the SELECT's columns).
        stored.extend([BarTrade(*row) for row in rows] for rows in reads)
    return stored


def write_bars(
    target: CassandraTarget, bars: Sequence[tuple[Window, Bar]], *, updated_at_ms: int, write_time_us: int
) -> None:
    """Upsert each window's bar into `trade_aggregates`, written at `write_time_us`."""
    upsert_rows(
        target,
        BAR_UPSERT,
        (bar_params(window, bar, updated_at_ms, write_time_us) for window, bar in bars),
        contracts.AGGREGATES_TABLE,
        partition_key_columns=BARS_PARTITION_KEY_COLUMNS,
    )


class TableWriters(NamedTuple):
    """What writes (and reads back) each table; replaced in tests by writers that record their rows.

    `dead_letters` and `trades` run in the tasks, on the executors; `window_trades` and `bars` on the driver.
    """

    dead_letters: Callable[..., None] = write_dead_letters
    trades: Callable[..., None] = write_trades
    window_trades: Callable[..., list[list[BarTrade]]] = read_window_trades
    bars: Callable[..., None] = write_bars


CASSANDRA_WRITERS = TableWriters()


class TaskOutcome(NamedTuple):
    """What one task of a batch wrote (or failed to write), sent back to the driver."""

    dead_letters: dict[str, int]
    """Rejected records by reason."""
    trades: BatchStats
    bar_trades: dict[Window, list[BarTrade]]
    """The trades written, by the window they fall into: the driver's bar step adds them to its book."""
    failed_table: str | None = None
    failed_rows: int = 0
    error: str | None = None
    write_ms: tuple[tuple[str, int], ...] = ()
    """Milliseconds spent writing each table (for the batch's log line and step metrics)."""


def write_spark_partition(
    writers: TableWriters,
    target: CassandraTarget,
    outcome_rows: Iterable[Row],
    *,
    written_at_ms: int,
    late_before_ms: int | None,
    bounds: Sequence[float],
) -> Iterator[TaskOutcome]:
    """One task of a batch: write its Spark partition of `transforms.outcome_rows` (dead letters, then
    trades); yield one outcome with the written trades by window, for the driver's bar step.

    A failed write is reported in the outcome rather than raised, so the driver can name the table in its
    metric and log line; the driver then fails the batch. `written_at_ms` is the batch's `ingested_at` and
    `rejected_at`.
    """
    trades: list[Row] = []
    dead_letters: list[Row] = []
    for row in outcome_rows:
        if row.trade is not None:
            trades.append(row.trade)
        else:
            dead_letters.append(row.dead_letter)
    by_reason = dict(collections.Counter(dead_letter.reason for dead_letter in dead_letters))
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
    ]
    finished_ms: dict[str, int] = {}
    write_ms: dict[str, int] = {}
    for table, count, write in steps:
        if not count:
            continue
        step_started_ms = wall_clock_ms()
        try:
            write()
        except Exception as error:
            log.exception("event=task_write_failed table=%s rows=%d", table, count)
            failure = f"{type(error).__name__}: {error}"
            yield TaskOutcome(by_reason, BatchStats.empty(bounds), {}, table, count, failure)
            return
        finished_ms[table] = wall_clock_ms()
        write_ms[table] = finished_ms[table] - step_started_ms
    bar_trades: dict[Window, list[BarTrade]] = collections.defaultdict(list)
    for t in trades:
        window = Window(t.symbol, t.trade_year, t.trade_month, t.trade_day, window_start_ms(t.trade_ts_ms))
        bar_trades[window].append(BarTrade(t.trade_ts_ms, t.trade_id, t.price, t.volume))
    times = [TradeTimes(t.trade_ts_ms, t.received_at_ms) for t in trades]
    # Latency runs to when this task's trades were written (without trades, there is none to measure).
    trades_written_ms = finished_ms.get(contracts.TRADES_TABLE, written_at_ms)
    stats = BatchStats.of(times, late_before_ms, trades_written_ms, bounds)
    yield TaskOutcome(by_reason, stats, dict(bar_trades), write_ms=tuple(write_ms.items()))
