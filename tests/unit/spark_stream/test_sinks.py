"""The sink's glue: statement parameters, the bar recompute, and `write_batch` from Kafka rows to each table.

Cassandra is replaced by an in-memory stand-in for `execute_all`; the real round trip is an integration test.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from cassandra.query import UNSET_VALUE
from prometheus_client import CollectorRegistry
from pyspark import cloudpickle
from pyspark.sql import Row, SparkSession

from jobs.spark_stream import metrics, sinks
from jobs.spark_stream.cassandra_client import CassandraTarget, CassandraWriteError
from jobs.spark_stream.metrics import EventTimeClock, StreamMetrics
from jobs.spark_stream.sinks import BatchWriter, PartitionWriters
from services import contracts

from .conftest import KAFKA_SCHEMA, KafkaRecords
from .records import encoded

# The recording writers below run in Spark's Python workers, which cannot import this test module.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

TARGET = CassandraTarget(("127.0.0.1",), 9042, "trading", "datacenter1", "LOCAL_QUORUM", 8, 1)
MINUTE = 1_700_000_040_000  # 2023-11-14T22:14:00Z


def columns_of(cql: str) -> list[str]:
    columns = [name.strip() for name in cql.split("(", 1)[1].split(")", 1)[0].split(",")]
    return [*columns, "USING TIMESTAMP"] if cql.endswith("USING TIMESTAMP ?") else columns


class FakeCassandra:
    """Stands in for `execute_all`: answers the window read from stored trades, records every write."""

    def __init__(self, stored_trades: list[dict[str, Any]]) -> None:
        self.stored_trades = stored_trades
        self.writes: dict[str, list[dict[str, Any]]] = {}

    def __call__(
        self, target: CassandraTarget, cql: str, params: list[tuple[Any, ...]], table: str
    ) -> list[Any]:
        if cql == sinks.WINDOW_TRADES_SELECT:
            return [self.window(*p) for p in params]
        self.writes.setdefault(table, []).extend(dict(zip(columns_of(cql), p, strict=True)) for p in params)
        return [None] * len(params)

    def batched(
        self,
        target: CassandraTarget,
        cql: str,
        params: list[tuple[Any, ...]],
        partition_columns: int,
        table: str,
    ) -> None:
        """Stands in for `execute_batched`: the same writes, grouped or not."""
        self(target, cql, params, table)

    def window(self, symbol: str, year: int, month: int, day: int, start: int, end: int) -> list[Row]:
        return [
            Row(trade_ts_ms=t["ts"], trade_id=t["id"], price=t["price"], volume=t["volume"])
            for t in self.stored_trades
            if t["symbol"] == symbol and (year, month, day) == (2023, 11, 14) and start <= t["ts"] < end
        ]


def window(symbol: str, start: int) -> sinks.Window:
    return sinks.Window(symbol, 2023, 11, 14, start)


def test_bar_is_recomputed_from_every_stored_trade_of_its_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    cassandra = FakeCassandra(
        [
            {"symbol": "AAPL", "ts": MINUTE - 1, "id": "before", "price": 1.0, "volume": 1.0},
            {"symbol": "AAPL", "ts": MINUTE + 30_000, "id": "b", "price": 12.0, "volume": 3.0},
            {"symbol": "AAPL", "ts": MINUTE, "id": "a", "price": 10.0, "volume": 1.0},
            {"symbol": "MSFT", "ts": MINUTE + 5, "id": "other", "price": 99.0, "volume": 1.0},
            {"symbol": "AAPL", "ts": MINUTE + 60_000, "id": "after", "price": 50.0, "volume": 1.0},
        ]
    )
    monkeypatch.setattr(sinks, "execute_all", cassandra)
    monkeypatch.setattr(sinks, "execute_batched", cassandra.batched)

    sinks.recompute_bars_partition(TARGET, [window("AAPL", MINUTE)], updated_at_ms=123, write_time_us=7)

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
    cassandra = FakeCassandra([{"symbol": "AAPL", "ts": MINUTE, "id": "a", "price": 10.0, "volume": 0.0}])
    monkeypatch.setattr(sinks, "execute_all", cassandra)
    monkeypatch.setattr(sinks, "execute_batched", cassandra.batched)

    sinks.recompute_bars_partition(TARGET, [window("AAPL", MINUTE)], updated_at_ms=0, write_time_us=0)

    assert cassandra.writes[contracts.AGGREGATES_TABLE][0]["vwap"] is UNSET_VALUE


def test_bar_recompute_fails_when_the_batch_trades_cannot_be_read_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    empty = FakeCassandra([])
    monkeypatch.setattr(sinks, "execute_all", empty)
    monkeypatch.setattr(sinks, "execute_batched", empty.batched)
    with pytest.raises(CassandraWriteError, match="no trades read back for AAPL"):
        sinks.recompute_bars_partition(TARGET, [window("AAPL", MINUTE)], updated_at_ms=0, write_time_us=0)


def test_trade_row_binds_each_value_to_its_column(monkeypatch: pytest.MonkeyPatch) -> None:
    cassandra = FakeCassandra([])
    monkeypatch.setattr(sinks, "execute_all", cassandra)
    monkeypatch.setattr(sinks, "execute_batched", cassandra.batched)
    row = Row(
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

    sinks.write_trades_partition(TARGET, [row], ingested_at_ms=MINUTE + 9)

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


def dead_letter_row() -> Row:
    return Row(
        source="kafka",
        day="2023-11-14",
        kafka_topic="trades",
        kafka_partition=1,
        kafka_offset=4,
        reason="invalid_price",
        detail="price is NaN",
        raw=b"{}",
        kafka_key=b"AAPL",
        kafka_timestamp_ms=MINUTE + 3,
    )


def test_dead_letter_row_binds_each_value_to_its_column(monkeypatch: pytest.MonkeyPatch) -> None:
    cassandra = FakeCassandra([])
    monkeypatch.setattr(sinks, "execute_all", cassandra)
    monkeypatch.setattr(sinks, "execute_batched", cassandra.batched)

    sinks.write_dead_letters_partition(TARGET, [dead_letter_row()], rejected_at_ms=MINUTE + 9)

    assert cassandra.writes[contracts.DEAD_LETTER_TABLE] == [
        {
            "source": "kafka",
            "day": "2023-11-14",
            "kafka_topic": "trades",
            "kafka_partition": 1,
            "kafka_offset": 4,
            "reason": "invalid_price",
            "detail": "price is NaN",
            "raw": b"{}",
            "kafka_key": b"AAPL",
            "kafka_timestamp": MINUTE + 3,
            "rejected_at": MINUTE + 9,
        }
    ]


def test_partition_larger_than_a_chunk_is_written_in_chunk_sized_calls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[str, int, str]] = []

    def record(target: CassandraTarget, cql: str, params: list[tuple[Any, ...]], table: str) -> list[Any]:
        calls.append((cql, len(params), table))
        return [None] * len(params)

    monkeypatch.setattr(sinks, "execute_all", record)

    sinks.write_dead_letters_partition(TARGET, [dead_letter_row()] * (sinks.CHUNK_ROWS + 1), rejected_at_ms=0)

    assert calls == [
        (sinks.DEAD_LETTERS_INSERT, sinks.CHUNK_ROWS, contracts.DEAD_LETTER_TABLE),
        (sinks.DEAD_LETTERS_INSERT, 1, contracts.DEAD_LETTER_TABLE),
    ]


def test_task_reports_the_distinct_minutes_of_each_symbol_it_wrote() -> None:
    def trade(symbol: str, ts: int) -> Row:
        return Row(
            trade=Row(
                symbol=symbol,
                trade_year=2023,
                trade_month=11,
                trade_day=14,
                trade_ts_ms=ts,
                received_at_ms=ts,
            ),
            dead_letter=None,
        )

    def ignore_writes(*_: Any, **__: Any) -> None:
        pass

    ignore = PartitionWriters(ignore_writes, ignore_writes, ignore_writes)
    rows = [
        trade("AAPL", MINUTE),
        trade("AAPL", MINUTE + 59_999),
        trade("AAPL", MINUTE + 60_000),
        trade("MSFT", MINUTE + 1),
        trade("AAPL", MINUTE - 1),
        Row(trade=None, dead_letter=Row(reason="invalid_price")),
    ]
    (outcome,) = sinks.write_records_partition(
        ignore, TARGET, rows, written_at_ms=0, late_before_ms=None, bounds=[]
    )

    assert sorted(outcome.windows) == [
        window("AAPL", MINUTE - 60_000),
        window("AAPL", MINUTE),
        window("AAPL", MINUTE + 60_000),
        window("MSFT", MINUTE),
    ]
    assert (outcome.trades.trade_count, outcome.dead_letters) == (5, {"invalid_price": 1})


class RecordingWriter:
    """A partition writer for Spark's workers: appends `[table, row]` JSON lines to one file, in the order
    the writes happen, and can fail instead."""

    def __init__(self, path: Path, table: str, fail: bool = False) -> None:
        self.path, self.table, self.fail = path, table, fail

    def __call__(self, target: CassandraTarget, rows: Any, **kwargs: Any) -> None:
        if self.fail:
            raise CassandraWriteError("injected: Cassandra unavailable")
        with self.path.open("a") as out:
            for row in rows:  # Spark rows, or the bar writer's windows
                fields = row.asDict() if isinstance(row, Row) else row._asdict()
                if "write_time_us" in kwargs:
                    fields["write_time_us"] = kwargs["write_time_us"]
                out.write(json.dumps([self.table, fields], default=str) + "\n")


def recorded(path: Path, table: str | None = None) -> list[dict[str, Any]]:
    """The rows written to `table` (or, as `[table, row]` pairs, to every table), in the order written."""
    lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return lines if table is None else [row for written_to, row in lines if written_to == table]


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def batch_writer(tmp_path: Path, registry: CollectorRegistry, fail_trades: bool = False) -> BatchWriter:
    log = tmp_path / "writes.jsonl"
    writers = PartitionWriters(
        dead_letters=RecordingWriter(log, contracts.DEAD_LETTER_TABLE),
        trades=RecordingWriter(log, contracts.TRADES_TABLE, fail=fail_trades),
        bars=RecordingWriter(log, contracts.AGGREGATES_TABLE),
    )
    clock = EventTimeClock(watermark_ms=10_000)
    clock.advance(MINUTE + 30_000)  # an earlier batch has seen trades up to here
    return BatchWriter(
        TARGET, StreamMetrics(registry), clock, now_ms=lambda: MINUTE + 31_000, writers=writers
    )


def test_batch_writes_trades_dead_letters_and_touched_bars(
    kafka_records: KafkaRecords, tmp_path: Path, registry: CollectorRegistry
) -> None:
    values = [
        encoded(trade_id="t-0", trade_ts_ms=MINUTE + 29_000),
        encoded(trade_id="t-1", trade_ts_ms=MINUTE + 29_000),
        encoded(trade_id="t-2", trade_ts_ms=MINUTE - 5_000),  # late: before MINUTE + 20_000
        b"\x89PNG garbage",
        encoded(trade_id="t-4", price=float("nan")),
    ]
    # One Spark partition, like one Kafka partition holding every trade of a symbol.
    batch_writer(tmp_path, registry).write_batch(
        kafka_records(values, first_offset=0).coalesce(1), epoch_id=7
    )
    writes = tmp_path / "writes.jsonl"

    assert sorted(r["trade_id"] for r in recorded(writes, contracts.TRADES_TABLE)) == ["t-0", "t-1", "t-2"]
    assert sorted(
        (r["kafka_offset"], r["reason"]) for r in recorded(writes, contracts.DEAD_LETTER_TABLE)
    ) == [
        (3, "malformed_record"),
        (4, "invalid_price"),
    ]
    assert [r["window_start_ms"] for r in recorded(writes, contracts.AGGREGATES_TABLE)] == [
        MINUTE - 60_000,
        MINUTE,
    ]
    assert recorded(writes)[-1][0] == contracts.AGGREGATES_TABLE  # bars come after the trades

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value(metrics.RECORDS_READ) == 5
    assert value(metrics.ROWS_WRITTEN, table=contracts.TRADES_TABLE) == 3
    assert value(metrics.ROWS_WRITTEN, table=contracts.DEAD_LETTER_TABLE) == 2
    assert value(metrics.ROWS_WRITTEN, table=contracts.AGGREGATES_TABLE) == 2
    assert value(metrics.DEAD_LETTERS, reason="malformed_record") == 1
    assert value(metrics.LATE_TRADES) == 1
    assert value(f"{metrics.END_TO_END_LATENCY}_count") == 3


def test_window_written_by_two_tasks_is_recomputed_after_both(
    spark: SparkSession, kafka_records: KafkaRecords, tmp_path: Path, registry: CollectorRegistry
) -> None:
    # The same symbol-minute in two Spark partitions: a topic not keyed by symbol.
    values = [encoded(trade_id="a", trade_ts_ms=MINUTE + 1), encoded(trade_id="b", trade_ts_ms=MINUTE + 2)]
    records = kafka_records(values).collect()
    two_partitions = spark.createDataFrame(spark.sparkContext.parallelize(records, 2), KAFKA_SCHEMA)
    batch_writer(tmp_path, registry).write_batch(two_partitions, epoch_id=9)

    trades, bars = contracts.TRADES_TABLE, contracts.AGGREGATES_TABLE
    writes = recorded(tmp_path / "writes.jsonl")
    # Each task writes its trade and its bar; the driver recomputes the shared window after both.
    assert [table for table, _ in writes] == [trades, bars, trades, bars, bars]
    assert writes[-1][1]["window_start_ms"] == MINUTE
    # Its write time is later than the tasks' whatever their clocks: the complete bar wins in Cassandra.
    first, second, final = [row["write_time_us"] for table, row in writes if table == bars]
    assert final > max(first, second)


def test_failed_trade_write_fails_the_batch_and_is_counted_and_logged(
    kafka_records: KafkaRecords, tmp_path: Path, registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    writer = batch_writer(tmp_path, registry, fail_trades=True)

    with pytest.raises(Exception, match="injected: Cassandra unavailable"):
        writer.write_batch(kafka_records([encoded()]), epoch_id=8)

    assert registry.get_sample_value(metrics.WRITE_FAILURES, {"table": contracts.TRADES_TABLE}) == 1
    assert registry.get_sample_value(metrics.ROWS_WRITTEN, {"table": contracts.TRADES_TABLE}) is None
    # No bar is computed from a batch whose trades failed.
    assert recorded(tmp_path / "writes.jsonl", contracts.AGGREGATES_TABLE) == []
    (line,) = [r.getMessage() for r in caplog.records if "batch_write_failed" in r.getMessage()]
    assert "epoch=8 table=trades_v2 rows=1" in line
    assert line.endswith("CassandraWriteError: injected: Cassandra unavailable")
