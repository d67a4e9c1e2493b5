"""The CQL the job runs and how a row binds to it: one statement per table, and one function per statement
that turns an outcome row (`transforms.outcome_rows`) or a computed bar into the statement's parameters.

Changes when a table's columns change (`sql/cql/`); `tests/unit/spark_stream/test_cql_schema.py` holds each
statement against its migration.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from cassandra.query import UNSET_VALUE
from pyspark.sql import Row

from jobs.spark_stream.bars import BAR_WINDOW_MS, Bar
from services import contracts

TRADES_INSERT = (
    f"INSERT INTO {contracts.TRADES_TABLE} (symbol, trade_year, trade_month, trade_day, timestamp, trade_id, "
    "price, volume, conditions, received_at, kafka_partition, kafka_offset, ingested_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
TRADES_PARTITION_KEY_COLUMNS = 4
"""(symbol, trade_year, trade_month, trade_day): the leading values of a TRADES_INSERT row."""

DEAD_LETTERS_INSERT = (
    f"INSERT INTO {contracts.DEAD_LETTER_TABLE} (source, day, kafka_topic, kafka_partition, kafka_offset, "
    "reason, detail, raw, kafka_key, kafka_timestamp, rejected_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

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
"""The write time is the driver's, not the executor's clock, so that a later recompute of a bar always
wins over an earlier one (see `batch_writer.BatchWriter`)."""
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


def trade_params(trade: Row, ingested_at_ms: int) -> tuple[Any, ...]:
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


def dead_letter_params(dead_letter: Row, rejected_at_ms: int) -> tuple[Any, ...]:
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
