"""The table writers: statement parameters, chunks, and the window read-back.

Cassandra is replaced by an in-memory stand-in for `execute_all`; the real round trip is an integration test.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from cassandra.query import UNSET_VALUE

from jobs.spark_stream import cql, table_writers
from jobs.spark_stream.bars import BarTrade, compute_bar
from jobs.spark_stream.cassandra_writer import CassandraTarget
from services import contracts
from services.cassandra_session import CassandraConnection

TARGET = CassandraTarget(CassandraConnection(consistency="LOCAL_QUORUM"), "trading", 8, 1)
ROOT = Path(__file__).resolve().parents[3]
MINUTE = 1_700_000_040_000  # 2023-11-14T22:14:00Z


def columns_of(statement: str) -> list[str]:
    columns = [name.strip() for name in statement.split("(", 1)[1].split(")", 1)[0].split(",")]
    return [*columns, "USING TIMESTAMP"] if statement.endswith("USING TIMESTAMP ?") else columns


class FakeCassandra:
    """Stands in for `execute_all`: answers the window read from stored trades, records every write."""

    def __init__(self, stored_trades: list[dict[str, Any]]) -> None:
        self.stored_trades = stored_trades
        self.writes: dict[str, list[dict[str, Any]]] = {}

    def __call__(
        self, target: CassandraTarget, statement: str, params: list[tuple[Any, ...]], table: str
    ) -> list[Any]:
        if statement == cql.WINDOW_TRADES_SELECT:
            return [self.window(*p) for p in params]
        self.writes.setdefault(table, []).extend(
            dict(zip(columns_of(statement), p, strict=True)) for p in params
        )
        return [None] * len(params)

    def batched(
        self,
        target: CassandraTarget,
        statement: str,
        params: list[tuple[Any, ...]],
        partition_key_columns: int,
        table: str,
    ) -> None:
        """Stands in for `execute_batched`: the same writes, grouped or not."""
        self(target, statement, params, table)

    def window(
        self, symbol: str, year: int, month: int, day: int, start: int, end: int
    ) -> list[tuple[int, str, float, float]]:
        return [
            (t["ts"], t["id"], t["price"], t["volume"])
            for t in self.stored_trades
            if t["symbol"] == symbol and (year, month, day) == (2023, 11, 14) and start <= t["ts"] < end
        ]


def window(symbol: str, start: int) -> cql.Window:
    return cql.Window(symbol, 2023, 11, 14, start)


def test_window_read_back_returns_each_window_s_stored_trades_only(monkeypatch: pytest.MonkeyPatch) -> None:
    cassandra = FakeCassandra(
        [
            {"symbol": "AAPL", "ts": MINUTE - 1, "id": "before", "price": 1.0, "volume": 1.0},
            {"symbol": "AAPL", "ts": MINUTE + 30_000, "id": "b", "price": 12.0, "volume": 3.0},
            {"symbol": "AAPL", "ts": MINUTE, "id": "a", "price": 10.0, "volume": 1.0},
            {"symbol": "MSFT", "ts": MINUTE + 5, "id": "other", "price": 99.0, "volume": 1.0},
            {"symbol": "AAPL", "ts": MINUTE + 60_000, "id": "after", "price": 50.0, "volume": 1.0},
        ]
    )
    monkeypatch.setattr(table_writers, "execute_all", cassandra)

    stored = table_writers.read_window_trades(TARGET, [window("AAPL", MINUTE), window("MSFT", MINUTE)])

    assert stored == [
        [BarTrade(MINUTE + 30_000, "b", 12.0, 3.0), BarTrade(MINUTE, "a", 10.0, 1.0)],
        [BarTrade(MINUTE + 5, "other", 99.0, 1.0)],
    ]


def test_bar_row_binds_each_figure_to_its_column_at_the_given_write_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cassandra = FakeCassandra([])
    monkeypatch.setattr(table_writers, "execute_batched", cassandra.batched)
    bar = compute_bar([BarTrade(MINUTE + 30_000, "b", 12.0, 3.0), BarTrade(MINUTE, "a", 10.0, 1.0)])

    table_writers.write_bars(TARGET, [(window("AAPL", MINUTE), bar)], updated_at_ms=123, write_time_us=7)

    assert cassandra.writes[contracts.AGGREGATES_TABLE] == [
        {
            "symbol": "AAPL",
            "trade_year": 2023,
            "trade_month": 11,
            "window_start": MINUTE,
            "window_end": MINUTE + 60_000,
            "open": 10.0,
            "high": 12.0,
            "low": 10.0,
            "close": 12.0,
            "volume": 4.0,
            "trade_count": 2,
            "vwap": (10.0 * 1 + 12.0 * 3) / 4,
            "mean_price": 11.0,
            "stddev_price": 1.0,
            "first_trade_ts": MINUTE,
            "last_trade_ts": MINUTE + 30_000,
            "updated_at": 123,
            "USING TIMESTAMP": 7,
        }
    ]


def test_bar_without_volume_leaves_vwap_unset_rather_than_writing_a_null(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cassandra = FakeCassandra([])
    monkeypatch.setattr(table_writers, "execute_batched", cassandra.batched)
    bar = compute_bar([BarTrade(MINUTE, "a", 10.0, 0.0)])

    table_writers.write_bars(TARGET, [(window("AAPL", MINUTE), bar)], updated_at_ms=0, write_time_us=0)

    assert cassandra.writes[contracts.AGGREGATES_TABLE][0]["vwap"] is UNSET_VALUE


def test_trade_row_binds_each_value_to_its_column(monkeypatch: pytest.MonkeyPatch) -> None:
    cassandra = FakeCassandra([])
    monkeypatch.setattr(table_writers, "execute_all", cassandra)
    monkeypatch.setattr(table_writers, "execute_batched", cassandra.batched)
    row = cql.TradeRow(
        symbol="AAPL",
        trade_year=2023,
        trade_month=11,
        trade_day=14,
        trade_ts_ms=MINUTE,
        trade_id="f-0",
        price=1.5,
        volume=2.0,
        conditions=["1"],
        received_at_ms=MINUTE + 7,
        kafka_partition=2,
        kafka_offset=9,
    )

    table_writers.write_trades(TARGET, [row], ingested_at_ms=MINUTE + 9)

    assert cassandra.writes[contracts.TRADES_TABLE] == [
        {
            "symbol": "AAPL",
            "trade_year": 2023,
            "trade_month": 11,
            "trade_day": 14,
            "timestamp": MINUTE,
            "trade_id": "f-0",
            "price": 1.5,
            "volume": 2.0,
            "conditions": ["1"],
            "received_at": MINUTE + 7,
            "kafka_partition": 2,
            "kafka_offset": 9,
            "ingested_at": MINUTE + 9,
        }
    ]


def test_a_trade_twice_in_a_batch_is_written_once_the_last_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    # Two writes of one row in one batch statement would share its timestamp: Cassandra would merge them and
    # store the `conditions` list's elements twice.
    cassandra = FakeCassandra([])
    monkeypatch.setattr(table_writers, "execute_all", cassandra)
    monkeypatch.setattr(table_writers, "execute_batched", cassandra.batched)
    first = cql.TradeRow("AAPL", 2023, 11, 14, MINUTE, "f-0", 1.5, 2.0, ["1"], MINUTE + 7, 2, 9)
    other = first._replace(trade_id="f-1", kafka_offset=10)
    again = first._replace(kafka_offset=11)

    table_writers.write_trades(TARGET, [first, other, again], ingested_at_ms=MINUTE + 9)

    written = cassandra.writes[contracts.TRADES_TABLE]
    assert [(row["trade_id"], row["kafka_offset"]) for row in written] == [("f-0", 11), ("f-1", 10)]


def test_the_leading_trade_fields_are_the_tables_primary_key() -> None:
    schema = (ROOT / "sql" / "cql" / "V002__trades_v2.cql").read_text()
    key = re.search(r"PRIMARY KEY \(\((.*?)\), (.*?)\)", schema)
    assert key is not None
    columns = [name.strip() for part in key.groups() for name in part.split(",")]
    fields = cql.TradeRow._fields
    assert [cql.CQL_COLUMN_OF_FIELD.get(f, f) for f in fields[: cql.TRADES_PRIMARY_KEY_COLUMNS]] == columns


def dead_letter_row() -> cql.DeadLetterRow:
    return cql.DeadLetterRow(
        source="kafka",
        day=date(2023, 11, 14),
        kafka_topic="trades",
        kafka_partition=1,
        kafka_offset=4,
        reason="invalid_price",
        detail="price is NaN",
        raw="{}",
        kafka_key="AAPL",
        kafka_timestamp_ms=MINUTE + 3,
    )


def test_dead_letter_row_binds_each_value_to_its_column(monkeypatch: pytest.MonkeyPatch) -> None:
    cassandra = FakeCassandra([])
    monkeypatch.setattr(table_writers, "execute_all", cassandra)
    monkeypatch.setattr(table_writers, "execute_batched", cassandra.batched)

    table_writers.write_dead_letters(TARGET, [dead_letter_row()], rejected_at_ms=MINUTE + 9)

    assert cassandra.writes[contracts.DEAD_LETTER_TABLE] == [
        {
            "source": "kafka",
            "day": date(2023, 11, 14),
            "kafka_topic": "trades",
            "kafka_partition": 1,
            "kafka_offset": 4,
            "reason": "invalid_price",
            "detail": "price is NaN",
            "raw": "{}",
            "kafka_key": "AAPL",
            "kafka_timestamp": MINUTE + 3,
            "rejected_at": MINUTE + 9,
        }
    ]


def test_rows_beyond_a_chunk_are_written_in_chunk_sized_calls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[str, int, str]] = []

    def record(
        target: CassandraTarget, statement: str, params: list[tuple[Any, ...]], table: str
    ) -> list[Any]:
        calls.append((statement, len(params), table))
        return [None] * len(params)

    monkeypatch.setattr(table_writers, "execute_all", record)

    table_writers.write_dead_letters(
        TARGET, [dead_letter_row()] * (table_writers.CHUNK_ROWS + 1), rejected_at_ms=0
    )

    assert calls == [
        (cql.DEAD_LETTERS_INSERT, table_writers.CHUNK_ROWS, contracts.DEAD_LETTER_TABLE),
        (cql.DEAD_LETTERS_INSERT, 1, contracts.DEAD_LETTER_TABLE),
    ]
