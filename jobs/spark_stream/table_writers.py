"""The table writers: one function per table the job writes (and the window read-back the bar step needs),
each taking rows as `batch_rows` collects them. `batch_writer` calls them in order, on the driver.

The CQL and its parameters are `cql`'s, the session, concurrency and retries `cassandra_writer`'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import Any, NamedTuple, TypeVar

from jobs.spark_stream.bars import Bar, BarTrade
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
    TRADES_PRIMARY_KEY_COLUMNS,
    WINDOW_TRADES_SELECT,
    DeadLetterRow,
    TradeRow,
    Window,
    bar_params,
    dead_letter_params,
    trade_params,
    window_trades_params,
)
from services import contracts

_Item = TypeVar("_Item")

CHUNK_ROWS = 10_000
"""Rows handed to the concurrent executor at once, to bound the statements held in memory."""
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


def write_trades(target: CassandraTarget, trades: Iterable[TradeRow], *, ingested_at_ms: int) -> None:
    """Upsert a batch's trades into `trades_v2`, each row once."""
    # A trade sent twice (the producer delivers at least once) can come twice in one batch. Two writes of one
    # row in one batch statement share its timestamp and Cassandra merges them: the `conditions` list would
    # hold its elements twice. The last one (the highest Kafka offset) is written, as separate writes would.
    unique = {trade[:TRADES_PRIMARY_KEY_COLUMNS]: trade for trade in trades}
    # Many trades of a batch share a Cassandra partition (a symbol's UTC day): batched per partition.
    params = (trade_params(trade, ingested_at_ms) for trade in unique.values())
    upsert_rows(
        target,
        TRADES_INSERT,
        params,
        contracts.TRADES_TABLE,
        partition_key_columns=TRADES_PARTITION_KEY_COLUMNS,
    )


def write_dead_letters(
    target: CassandraTarget, dead_letters: Iterable[DeadLetterRow], *, rejected_at_ms: int
) -> None:
    """Upsert a batch's rejected records into `dead_letters`."""
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
    """What writes (and reads back) each table; replaced in tests by writers that record their rows."""

    dead_letters: Callable[..., None] = write_dead_letters
    trades: Callable[..., None] = write_trades
    window_trades: Callable[..., list[list[BarTrade]]] = read_window_trades
    bars: Callable[..., None] = write_bars


CASSANDRA_WRITERS = TableWriters()
