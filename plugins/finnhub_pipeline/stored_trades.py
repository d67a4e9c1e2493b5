"""Reads what the Spark job stored for a check window: a symbol's `trades_v2` rows and `trade_aggregates` bars
(one single-partition range read each), and which symbols have partitions on a day or in a month.

Works over `PipelineCassandraHook`'s session, at the connection's consistency (LOCAL_QUORUM: the level the
job writes at, so a read sees every acknowledged write). Used by `operators.reconciliation`.
"""

from __future__ import annotations

from typing import Any

from finnhub_pipeline.hooks.cassandra import PipelineCassandraHook
from finnhub_pipeline.reconciliation import StoredBar, StoredTrade
from finnhub_pipeline.reconciliation_window import CheckWindow
from jobs.spark_stream.bars import Bar
from services import contracts

FETCH_SIZE = 5_000

BAR_COLUMNS = (
    "open, high, low, close, volume, trade_count, vwap, mean_price, stddev_price, "
    "toUnixTimestamp(first_trade_ts) AS first_ms, toUnixTimestamp(last_trade_ts) AS last_ms"
)
"""The `trade_aggregates` columns `bar_of_row` reads, for a SELECT."""


def bar_of_row(row: Any) -> Bar:
    """The job's `Bar` from a `trade_aggregates` row selected with `BAR_COLUMNS`."""
    return Bar(
        open=row.open,
        high=row.high,
        low=row.low,
        close=row.close,
        volume=row.volume,
        trade_count=row.trade_count,
        vwap=row.vwap,
        mean_price=row.mean_price,
        stddev_price=row.stddev_price,
        first_trade_ts_ms=row.first_ms,
        last_trade_ts_ms=row.last_ms,
    )


class StoredTradesReader:
    """Prepared statements on one keyspace's `trades_v2` and `trade_aggregates`."""

    def __init__(self, cassandra: PipelineCassandraHook, keyspace: str = contracts.KEYSPACE) -> None:
        if not keyspace.isidentifier():
            raise ValueError(f"keyspace must be a plain CQL identifier, got {keyspace!r}")
        self.session = cassandra.get_conn()
        self.keyspace = keyspace
        trades = f"{keyspace}.{contracts.TRADES_TABLE}"
        bars = f"{keyspace}.{contracts.AGGREGATES_TABLE}"
        self._trades = self.session.prepare(
            "SELECT toUnixTimestamp(timestamp) AS trade_ts_ms, trade_id, price, volume, kafka_partition, "
            f"kafka_offset FROM {trades} WHERE symbol = ? AND trade_year = ? AND trade_month = ? "
            "AND trade_day = ? AND timestamp >= ? AND timestamp < ?"
        )
        self._bars = self.session.prepare(
            "SELECT toUnixTimestamp(window_start) AS window_start_ms, toUnixTimestamp(window_end) AS "
            f"window_end_ms, {BAR_COLUMNS} FROM {bars} WHERE symbol = ? AND trade_year = ? "
            "AND trade_month = ? AND window_start >= ? AND window_start < ?"
        )
        self._trade_partitions = f"SELECT DISTINCT symbol, trade_year, trade_month, trade_day FROM {trades}"
        self._bar_partitions = f"SELECT DISTINCT symbol, trade_year, trade_month FROM {bars}"

    def _rows(self, statement: Any, params: tuple[Any, ...]) -> Any:
        bound = statement.bind(params)
        bound.fetch_size = FETCH_SIZE
        return self.session.execute(bound)

    def trades(self, symbol: str, window: CheckWindow) -> list[StoredTrade]:
        year, month, day = window.day
        params = (symbol, year, month, day, window.start_ms, window.end_ms)
        return [
            StoredTrade(
                row.trade_ts_ms, row.trade_id, row.price, row.volume, row.kafka_partition, row.kafka_offset
            )
            for row in self._rows(self._trades, params)
        ]

    def bars(self, symbol: str, window: CheckWindow) -> list[StoredBar]:
        year, month = window.month
        params = (symbol, year, month, window.start_ms, window.end_ms)
        return [
            StoredBar(row.window_start_ms, row.window_end_ms, bar_of_row(row))
            for row in self._rows(self._bars, params)
        ]

    def symbols(self, windows: list[CheckWindow]) -> dict[CheckWindow, set[str]]:
        """The symbols with a trades_v2 partition on each window's day or a trade_aggregates partition in
        its month: a symbol can have rows there that Kafka does not know. One scan of each table's partition
        keys (a few per symbol and day), however many windows."""
        days: dict[tuple[int, int, int], set[str]] = {}
        for row in self.session.execute(self._trade_partitions):
            days.setdefault((row.trade_year, row.trade_month, row.trade_day), set()).add(row.symbol)
        months: dict[tuple[int, int], set[str]] = {}
        for row in self.session.execute(self._bar_partitions):
            months.setdefault((row.trade_year, row.trade_month), set()).add(row.symbol)
        return {window: days.get(window.day, set()) | months.get(window.month, set()) for window in windows}
