"""The load step end to end on a local Spark session: a micro-batch's Kafka records through
`transforms.trade_outcomes` and `main.write_each_batch` (hence `BatchWriter.write_batch`) to each table, in
order, with its metrics and step timings; a window's bar from every Spark partition's trades and earlier
batches'; a failed write failing the batch.

The table writers are replaced by recording ones (on the driver, where the real ones run); the read-back
answers from the trades recorded.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.spark_stream import metrics
from jobs.spark_stream.bars import BarTrade, window_start_ms
from jobs.spark_stream.batch_writer import BatchWriter, cyclic_gc_paused, trades_by_window
from jobs.spark_stream.cassandra_writer import CassandraTarget, CassandraWriteError
from jobs.spark_stream.cql import DeadLetterRow, TradeRow, Window
from jobs.spark_stream.main import write_each_batch
from jobs.spark_stream.metrics import EventTimeClock, StreamMetrics
from jobs.spark_stream.table_writers import TableWriters
from jobs.spark_stream.transforms import MS_PER_DAY, trade_outcomes
from services import contracts
from services.cassandra_session import CassandraConnection

from .conftest import KAFKA_SCHEMA, KafkaRecords
from .records import encoded

TARGET = CassandraTarget(CassandraConnection(consistency="LOCAL_QUORUM"), "trading", 8, 1)
MINUTE = 1_700_000_040_000  # 2023-11-14T22:14:00Z
NOW_MS = MINUTE + 31_000
"""The driver's clock during every batch here."""


def write_micro_batch(writer: BatchWriter, kafka_records: DataFrame, epoch_id: int) -> None:
    """What the job does with a micro-batch: its streaming query's transforms, today being the batch's date
    (here the driver's clock's), then the `foreachBatch` function."""
    today = F.to_date(F.timestamp_millis(F.lit(writer.now_ms())))
    outcomes = trade_outcomes(kafka_records, today=today)
    write_each_batch(writer)(outcomes, epoch_id)


class RecordingWriter:
    """A table writer that appends `[table, row]` JSON lines to one file, in the order the writes happen,
    and can fail instead."""

    def __init__(self, path: Path, table: str, fail: bool = False) -> None:
        self.path, self.table, self.fail = path, table, fail

    def __call__(self, target: CassandraTarget, rows: Any, **kwargs: Any) -> None:
        if self.fail:
            raise CassandraWriteError("injected: Cassandra unavailable")
        with self.path.open("a") as out:
            for row in rows:  # trade or dead-letter rows, or the bar writer's (window, bar) pairs
                if isinstance(row, TradeRow | DeadLetterRow):
                    fields = row._asdict()
                else:
                    window, bar = row
                    fields = {**window._asdict(), **dataclasses.asdict(bar), **kwargs}
                out.write(json.dumps([self.table, fields], default=str) + "\n")


class RecordedTrades:
    """Stands in for the read-back: each window's trades as recorded by the trade writer."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.windows_read: list[Window] = []
        self.trade_ids_read: dict[Window, list[str]] = {}
        """The trade ids each window's last read returned."""

    def __call__(self, target: CassandraTarget, windows: list[Window]) -> list[list[BarTrade]]:
        self.windows_read.extend(windows)
        stored = self._stored(windows)
        self.trade_ids_read.update(
            {window: [t.trade_id for t in trades] for window, trades in zip(windows, stored, strict=True)}
        )
        return stored

    def _stored(self, windows: list[Window]) -> list[list[BarTrade]]:
        stored: dict[tuple[str, int, str], BarTrade] = {}
        for row in recorded(self.path, contracts.TRADES_TABLE):
            trade = BarTrade(row["trade_ts_ms"], row["trade_id"], row["price"], row["volume"])
            stored[(row["symbol"], row["trade_ts_ms"], row["trade_id"])] = trade
        return [
            [
                trade
                for (symbol, ts, _), trade in stored.items()
                if symbol == window.symbol and window_start_ms(ts) == window.window_start_ms
            ]
            for window in windows
        ]


def written(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """Every (table, row) written, in the order written."""
    lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [(table, row) for table, row in lines]


def recorded(path: Path, table: str) -> list[dict[str, Any]]:
    """The rows written to `table`, in the order written."""
    return [row for written_to, row in written(path) if written_to == table]


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def batch_writer(tmp_path: Path, registry: CollectorRegistry, fail_trades: bool = False) -> BatchWriter:
    log = tmp_path / "writes.jsonl"
    writers = TableWriters(
        dead_letters=RecordingWriter(log, contracts.DEAD_LETTER_TABLE),
        trades=RecordingWriter(log, contracts.TRADES_TABLE, fail=fail_trades),
        window_trades=RecordedTrades(log),
        bars=RecordingWriter(log, contracts.AGGREGATES_TABLE),
    )
    clock = EventTimeClock(watermark_ms=10_000)
    clock.advance(MINUTE + 30_000)  # an earlier batch has seen trades up to here
    return BatchWriter(TARGET, StreamMetrics(registry), clock, now_ms=lambda: NOW_MS, writers=writers)


def writer_recording_reads(tmp_path: Path, registry: CollectorRegistry) -> tuple[BatchWriter, RecordedTrades]:
    """A `batch_writer` and the recorder of the windows it reads back from trades_v2."""
    writer = batch_writer(tmp_path, registry)
    reads = writer.writers.window_trades
    assert isinstance(reads, RecordedTrades)
    return writer, reads


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
    write_micro_batch(batch_writer(tmp_path, registry), kafka_records(values, first_offset=0).coalesce(1), 7)
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
    assert written(writes)[-1][0] == contracts.AGGREGATES_TABLE  # bars come after the trades

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value(metrics.RECORDS_READ) == 5
    assert value(metrics.ROWS_WRITTEN, table=contracts.TRADES_TABLE) == 3
    assert value(metrics.ROWS_WRITTEN, table=contracts.DEAD_LETTER_TABLE) == 2
    assert value(metrics.ROWS_WRITTEN, table=contracts.AGGREGATES_TABLE) == 2
    assert value(metrics.DEAD_LETTERS, reason="malformed_record") == 1
    assert value(metrics.LATE_TRADES) == 1
    assert value(f"{metrics.END_TO_END_LATENCY}_count") == 3


def test_window_in_two_spark_partitions_gets_one_bar_of_both_partitions_trades(
    spark: SparkSession, kafka_records: KafkaRecords, tmp_path: Path, registry: CollectorRegistry
) -> None:
    # The same symbol-minute in two Spark partitions: a topic not keyed by symbol.
    values = [
        encoded(trade_id="a", trade_ts_ms=MINUTE + 1, price=10.0),
        encoded(trade_id="b", trade_ts_ms=MINUTE + 2, price=12.0),
    ]
    records = kafka_records(values).collect()
    two_partitions = spark.createDataFrame(spark.sparkContext.parallelize(records, 2), KAFKA_SCHEMA)
    write_micro_batch(batch_writer(tmp_path, registry), two_partitions, 9)

    trades, bars = contracts.TRADES_TABLE, contracts.AGGREGATES_TABLE
    writes = written(tmp_path / "writes.jsonl")
    assert [table for table, _ in writes] == [trades, trades, bars]  # the trades in one write
    bar = writes[-1][1]
    assert (bar["window_start_ms"], bar["trade_count"], bar["open"], bar["close"]) == (MINUTE, 2, 10.0, 12.0)


def test_later_batches_extend_the_bar_book_and_write_later_bars(
    kafka_records: KafkaRecords, tmp_path: Path, registry: CollectorRegistry
) -> None:
    writer, reads = writer_recording_reads(tmp_path, registry)
    write_micro_batch(writer, kafka_records([encoded(trade_id="a", trade_ts_ms=MINUTE + 1)]), 1)
    write_micro_batch(writer, kafka_records([encoded(trade_id="b", trade_ts_ms=MINUTE + 2)]), 2)
    # A replay of the first batch (same records): nothing counts twice.
    write_micro_batch(writer, kafka_records([encoded(trade_id="a", trade_ts_ms=MINUTE + 1)]), 2)

    bar_rows = recorded(tmp_path / "writes.jsonl", contracts.AGGREGATES_TABLE)
    assert [row["trade_count"] for row in bar_rows] == [1, 2, 2]
    # Read back once, when the book did not hold the minute yet; the same clock, yet ever later write times.
    assert reads.windows_read == [Window("AAPL", 2023, 11, 14, MINUTE)]
    times = [row["write_time_us"] for row in bar_rows]
    assert times == sorted(set(times)) and times[0] == NOW_MS * 1000


def test_a_minute_the_book_lacks_is_read_before_the_batch_writes_so_a_new_minute_reads_nothing_back(
    kafka_records: KafkaRecords, tmp_path: Path, registry: CollectorRegistry
) -> None:
    writer, reads = writer_recording_reads(tmp_path, registry)
    # A trade an earlier run of the job stored: the book, empty at start, does not hold its minute.
    earlier = TradeRow("AAPL", 2023, 11, 14, MINUTE + 1, "earlier", 9.0, 1.0, [], MINUTE + 1, 0, 0)
    RecordingWriter(tmp_path / "writes.jsonl", contracts.TRADES_TABLE)(TARGET, [earlier])
    values = [
        encoded(trade_id="a", trade_ts_ms=MINUTE + 2),
        encoded(trade_id="new-minute", trade_ts_ms=MINUTE + 60_000),
    ]
    write_micro_batch(writer, kafka_records(values).coalesce(1), 1)

    this_minute, next_minute = (Window("AAPL", 2023, 11, 14, start) for start in (MINUTE, MINUTE + 60_000))
    assert reads.trade_ids_read == {this_minute: ["earlier"], next_minute: []}
    bars = recorded(tmp_path / "writes.jsonl", contracts.AGGREGATES_TABLE)
    assert [(bar["window_start_ms"], bar["trade_count"], bar["open"]) for bar in bars] == [
        (MINUTE, 2, 9.0),
        (MINUTE + 60_000, 1, 189.5),
    ]


def test_batch_steps_are_timed_and_the_spark_step_is_the_rest_of_the_batch(
    kafka_records: KafkaRecords, tmp_path: Path, registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    writer = batch_writer(tmp_path, registry)
    with caplog.at_level(logging.INFO):
        write_micro_batch(writer, kafka_records([encoded(trade_id="a", trade_ts_ms=MINUTE + 1)]), 4)
    spark_ms = writer.metrics.record_batch_time(4, trigger_execution_ms=60_000)

    (line,) = [r.getMessage() for r in caplog.records if "event=batch_written" in r.getMessage()]
    steps = re.search(r"steps_ms=(\S+)", line)
    assert steps is not None
    step_ms = {step: int(ms) for step, ms in (pair.split(":") for pair in steps.group(1).split(","))}
    assert set(step_ms) == {"collect", "trades_v2", "bars"}  # no dead letters in this batch
    # The rest of the batch's wall time is Spark's.
    assert spark_ms == 60_000 - sum(step_ms.values())
    assert writer.metrics.record_batch_time(5, trigger_execution_ms=10) is None  # no data, no steps

    # The same steps, as the histogram a Grafana panel stacks: one observation each, adding up to the batch.
    def observed(suffix: str) -> dict[str, float | None]:
        return {
            step: registry.get_sample_value(f"{metrics.BATCH_STEP}_{suffix}", {"step": step})
            for step in ("spark", "collect", "trades_v2", "bars")
        }

    assert observed("count") == {"spark": 1, "collect": 1, "trades_v2": 1, "bars": 1}
    assert observed("sum") == {"spark": spark_ms / 1000} | {step: ms / 1000 for step, ms in step_ms.items()}


def test_failed_trade_write_fails_the_batch_and_is_counted_and_logged(
    kafka_records: KafkaRecords, tmp_path: Path, registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    writer = batch_writer(tmp_path, registry, fail_trades=True)

    with pytest.raises(Exception, match="injected: Cassandra unavailable"):
        write_micro_batch(writer, kafka_records([encoded()]), 8)

    assert registry.get_sample_value(metrics.WRITE_FAILURES, {"table": contracts.TRADES_TABLE}) == 1
    assert registry.get_sample_value(metrics.ROWS_WRITTEN, {"table": contracts.TRADES_TABLE}) is None
    # No bar is computed from a batch whose trades failed.
    assert recorded(tmp_path / "writes.jsonl", contracts.AGGREGATES_TABLE) == []
    (line,) = [r.getMessage() for r in caplog.records if "batch_write_failed" in r.getMessage()]
    assert "epoch=8 table=trades_v2 rows=1" in line
    assert line.endswith("CassandraWriteError: injected: Cassandra unavailable")


def test_batch_rejects_trades_older_than_the_retention_limit_of_the_batch_date(
    kafka_records: KafkaRecords, tmp_path: Path, registry: CollectorRegistry
) -> None:
    # The limit is the TTL before the end of the batch's UTC day: the latest the TTL ago can be that day.
    end_of_day_ms = (NOW_MS // MS_PER_DAY + 1) * MS_PER_DAY
    limit_ms = end_of_day_ms - contracts.TRADES_TTL_SECONDS * 1000
    values = [
        encoded(trade_id="expired", trade_ts_ms=NOW_MS - contracts.TRADES_TTL_SECONDS * 1000 - 1),
        encoded(trade_id="inside the day's margin", trade_ts_ms=limit_ms - 1),
        encoded(trade_id="kept", trade_ts_ms=limit_ms),
    ]
    write_micro_batch(batch_writer(tmp_path, registry), kafka_records(values, first_offset=0), 10)
    writes = tmp_path / "writes.jsonl"

    assert [r["trade_id"] for r in recorded(writes, contracts.TRADES_TABLE)] == ["kept"]
    assert [(r["kafka_offset"], r["reason"]) for r in recorded(writes, contracts.DEAD_LETTER_TABLE)] == [
        (0, "older_than_retention"),
        (1, "older_than_retention"),
    ]


def test_a_failed_batch_empties_the_bar_book_so_the_next_reads_its_minutes_back(
    kafka_records: KafkaRecords, tmp_path: Path, registry: CollectorRegistry
) -> None:
    writer, reads = writer_recording_reads(tmp_path, registry)
    write_micro_batch(writer, kafka_records([encoded(trade_id="a", trade_ts_ms=MINUTE + 1)]), 1)
    working = writer.writers
    writer.writers = working._replace(
        trades=RecordingWriter(tmp_path / "writes.jsonl", contracts.TRADES_TABLE, fail=True)
    )
    with pytest.raises(Exception, match="injected"):
        write_micro_batch(writer, kafka_records([encoded(trade_id="b", trade_ts_ms=MINUTE + 2)]), 2)
    assert writer.bar_book.windows == {}

    writer.writers = working
    write_micro_batch(writer, kafka_records([encoded(trade_id="b", trade_ts_ms=MINUTE + 2)]), 2)

    aapl = Window("AAPL", 2023, 11, 14, MINUTE)
    assert reads.windows_read == [aapl, aapl]
    assert recorded(tmp_path / "writes.jsonl", contracts.AGGREGATES_TABLE)[-1]["trade_count"] == 2


def test_trades_are_grouped_by_symbol_minute_for_the_bar_step() -> None:
    def trade(symbol: str, ts: int) -> TradeRow:
        return TradeRow(symbol, 2023, 11, 14, ts, f"{symbol}-{ts}", 1.5, 2.0, [], ts, 0, 0)

    trades = [
        trade("AAPL", MINUTE),
        trade("AAPL", MINUTE + 59_999),
        trade("AAPL", MINUTE + 60_000),
        trade("MSFT", MINUTE + 1),
        trade("AAPL", MINUTE - 1),
    ]
    by_window = trades_by_window(trades)

    def aapl(start: int) -> Window:
        return Window("AAPL", 2023, 11, 14, start)

    assert {w: [t.trade_ts_ms for t in window_trades] for w, window_trades in by_window.items()} == {
        aapl(MINUTE - 60_000): [MINUTE - 1],
        aapl(MINUTE): [MINUTE, MINUTE + 59_999],
        aapl(MINUTE + 60_000): [MINUTE + 60_000],
        Window("MSFT", 2023, 11, 14, MINUTE): [MINUTE + 1],
    }
    assert by_window[Window("MSFT", 2023, 11, 14, MINUTE)] == [
        BarTrade(MINUTE + 1, f"MSFT-{MINUTE + 1}", 1.5, 2.0)
    ]


def test_a_batch_writes_with_the_cycle_collector_off_and_turns_it_back_on_even_when_it_fails(
    kafka_records: KafkaRecords, tmp_path: Path
) -> None:
    collector_on_while_writing: list[bool] = []

    def note_the_collector(write: Any) -> Any:
        def writer(*args: Any, **kwargs: Any) -> Any:
            collector_on_while_writing.append(gc.isenabled())
            return write(*args, **kwargs)

        return writer

    for fail_trades in (False, True):
        writer = batch_writer(tmp_path, CollectorRegistry(), fail_trades=fail_trades)
        writer.writers = TableWriters(*[note_the_collector(write) for write in writer.writers])
        try:
            write_micro_batch(writer, kafka_records([encoded()]), 9)
        except CassandraWriteError:
            assert fail_trades
        assert gc.isenabled()

    assert collector_on_while_writing and not any(collector_on_while_writing)


def test_a_collector_already_off_stays_off_after_a_batch() -> None:
    gc.disable()
    try:
        with cyclic_gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
