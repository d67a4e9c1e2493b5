"""The CQL the job runs and how a row binds to it: one statement per table, and one function per statement
that turns a collected outcome row (`batch_rows`) or a computed bar into the statement's parameters.

Changes when a table's columns change (`sql/cql/`); `tests/unit/spark_stream/test_cql_schema.py` holds each
statement against its migration.
"""

from __future__ import annotations

from datetime import date
from typing import Any, NamedTuple

from cassandra.query import UNSET_VALUE

from jobs.spark_stream.bars import BAR_WINDOW_MS, Bar
from services import contracts


class TradeRow(NamedTuple):
    """A valid record's trade: its `transforms.outcome_rows` columns, in TRADES_INSERT's order."""

    symbol: str
    trade_year: int
    trade_month: int
    trade_day: int
    trade_ts_ms: int
    trade_id: str
    price: float
    volume: float
    conditions: list[str]
    received_at_ms: int
    kafka_partition: int
    kafka_offset: int


class DeadLetterRow(NamedTuple):
    """A rejected record: its `transforms.outcome_rows` columns, in DEAD_LETTERS_INSERT's order."""

    source: str
    day: date
    kafka_topic: str
    kafka_partition: int
    kafka_offset: int
    reason: str
    detail: str
    raw: str
    kafka_key: str | None
    kafka_timestamp_ms: int


CQL_COLUMN_OF_FIELD = {
    "trade_ts_ms": "timestamp",
    "received_at_ms": "received_at",
    "kafka_timestamp_ms": "kafka_timestamp",
}
"""The row fields whose table column is named otherwise (epoch ms bind to CQL timestamps as they are)."""


def _insert(table: str, fields: tuple[str, ...], time_of_writing: str) -> str:
    """An INSERT of a row's fields, then the batch's clock (`time_of_writing`), as bound parameters."""
    columns = [CQL_COLUMN_OF_FIELD.get(field, field) for field in fields] + [time_of_writing]
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


TRADES_INSERT = _insert(contracts.TRADES_TABLE, TradeRow._fields, "ingested_at")
TRADES_PARTITION_KEY_COLUMNS = 4
"""(symbol, trade_year, trade_month, trade_day): the leading values of a TRADES_INSERT row."""
TRADES_PRIMARY_KEY_COLUMNS = 6
"""The partition key, trade_ts_ms and trade_id: the leading values of a TRADES_INSERT row, its primary key."""
DEAD_LETTERS_INSERT = _insert(contracts.DEAD_LETTER_TABLE, DeadLetterRow._fields, "rejected_at")

WINDOW_TRADES_SELECT = (
    "SELECT toUnixTimestamp(timestamp) AS trade_ts_ms, trade_id, price, volume "
    f"FROM {contracts.TRADES_TABLE} WHERE symbol = ? AND trade_year = ? AND trade_month = ? "
    "AND trade_day = ? AND timestamp >= ? AND timestamp < ?"
)
"""A window's stored trades, as `bars.BarTrade`'s fields in its order."""

BAR_UPSERT = (
    f"INSERT INTO {contracts.AGGREGATES_TABLE} (symbol, trade_year, trade_month, window_start, window_end, "
    "open, high, low, close, volume, trade_count, vwap, mean_price, stddev_price, first_trade_ts, "
    "last_trade_ts, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?"
)
"""The write time is the batch's, from the driver's clock and always later than the previous batch's, so that
a later recompute of a bar always wins over an earlier one (see `batch_writer.BatchWriter`)."""
BARS_PARTITION_KEY_COLUMNS = 3
"""(symbol, trade_year, trade_month): the leading values of a BAR_UPSERT row."""


class Window(NamedTuple):
    """A (symbol, minute) a batch wrote trades into, with the `trades_v2` Cassandra partition that holds
    them all (a UTC day is a whole number of windows, so a window never spans two partitions)."""

    symbol: str
    trade_year: int
    trade_month: int
    trade_day: int
    window_start_ms: int


def trade_params(trade: TradeRow, ingested_at_ms: int) -> tuple[Any, ...]:
    """A trade bound to TRADES_INSERT."""
    return (*trade, ingested_at_ms)


def dead_letter_params(dead_letter: DeadLetterRow, rejected_at_ms: int) -> tuple[Any, ...]:
    """A dead letter bound to DEAD_LETTERS_INSERT."""
    return (*dead_letter, rejected_at_ms)


def window_trades_params(window: Window) -> tuple[Any, ...]:
    """A window bound to WINDOW_TRADES_SELECT: its `trades_v2` partition and its minute."""
    return (
        window.symbol,
        window.trade_year,
        window.trade_month,
        window.trade_day,
        window.window_start_ms,
        window.window_start_ms + BAR_WINDOW_MS,
    )


def bar_params(window: Window, bar: Bar, updated_at_ms: int, write_time_us: int) -> tuple[Any, ...]:
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
