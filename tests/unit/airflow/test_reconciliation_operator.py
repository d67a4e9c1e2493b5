"""ReconciliationOperator checks its arguments and delegates: Kafka and Cassandra are fakes here, StatsD a
real UDP socket. What is asserted is what an operator sees: the task's outcome and message, the XCom report
and the gauges with their symbol tags."""

from __future__ import annotations

import dataclasses
import json
import socket
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from finnhub_pipeline.exceptions import StreamBehindError
from finnhub_pipeline.hooks.records import KafkaRecord
from finnhub_pipeline.operators import reconciliation as operator_module
from finnhub_pipeline.operators.reconciliation import ReconciliationOperator
from finnhub_pipeline.reconciliation import StoredBar, StoredTrade, expected_bars
from finnhub_pipeline.reconciliation_window import CheckWindow
from finnhub_pipeline.tagged_stats import StatsdTarget
from finnhub_pipeline.trade_records import parse_trade


def ms(text: str) -> int:
    return round(datetime.fromisoformat(text).timestamp() * 1000)


HOUR_START = ms("2026-05-01T09:00:00+00:00")
SCHEDULED_AT = datetime.fromisoformat("2026-05-01T10:15:00+00:00")
NOW_MS = ms("2026-05-01T10:15:30+00:00")


def trade_value(symbol: str, ts: int, trade_id: str, price: float = 10.0) -> bytes:
    return json.dumps(
        {
            "schema_version": 1,
            "trade_id": trade_id,
            "symbol": symbol,
            "price": price,
            "volume": 1.0,
            "trade_ts_ms": ts,
            "conditions": [],
            "received_at_ms": ts + 20,
        }
    ).encode()


class FakeKafka:
    """One topic's records per partition (offset = index), each with its Kafka timestamp."""

    records: ClassVar[dict[int, list[KafkaRecord]]] = {}
    reads: ClassVar[list[dict[int, tuple[int, int]]]] = []

    def __init__(self, kafka_config_id: str) -> None:
        pass

    def __enter__(self) -> FakeKafka:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass

    def watermarks(self, topic: str) -> dict[int, tuple[int, int]]:
        return {p: (records[0].offset if records else 0, len(records)) for p, records in self.records.items()}

    def earliest_timestamps(self, topic: str, watermarks: Mapping[int, tuple[int, int]]) -> dict[int, int]:
        return {p: records[0].timestamp_ms for p, records in self.records.items() if records}

    def offsets_at(self, topic: str, ts: int, watermarks: Mapping[int, tuple[int, int]]) -> dict[int, int]:
        return {
            p: next((r.offset for r in records if r.timestamp_ms >= ts), len(records))
            for p, records in self.records.items()
        }

    def read(self, topic: str, ranges: Mapping[int, tuple[int, int]]) -> Iterator[KafkaRecord]:
        self.reads.append({p: tuple(r) for p, r in ranges.items()})  # type: ignore[misc]
        for p, (start, end) in ranges.items():
            yield from (r for r in self.records[p] if start <= r.offset < end)


class FakeStored:
    rows: ClassVar[dict[str, list[StoredTrade]]] = {}
    stored_bars: ClassVar[dict[str, list[StoredBar]]] = {}

    def __init__(self, cassandra: object, keyspace: str) -> None:
        self.keyspace = keyspace

    def trades(self, symbol: str, window: CheckWindow) -> list[StoredTrade]:
        return [r for r in self.rows.get(symbol, []) if window.contains(r.trade_ts_ms)]

    def bars(self, symbol: str, window: CheckWindow) -> list[StoredBar]:
        return [b for b in self.stored_bars.get(symbol, []) if window.contains(b.window_start_ms)]

    def symbols(self, windows: list[CheckWindow]) -> dict[CheckWindow, set[str]]:
        return {window: set(self.rows) | set(self.stored_bars) for window in windows}


class FakeCassandraHook:
    def __init__(self, conn_id: str) -> None:
        pass

    def __enter__(self) -> FakeCassandraHook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass


class FakeTaskInstance:
    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = json.loads(json.dumps(value))  # as JSON-able as Airflow requires


@pytest.fixture
def statsd() -> Iterator[socket.socket]:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(2)
    yield receiver
    receiver.close()


def gauges(receiver: socket.socket) -> dict[str, str]:
    """line name|tags -> value, for every datagram received so far."""
    receiver.settimeout(0.2)
    found = {}
    try:
        while True:
            line = receiver.recv(4096).decode()
            name, rest = line.split(":", 1)
            value, _, tags = rest.partition("|g")
            found[name + tags] = value
    except TimeoutError:
        return found


@pytest.fixture
def healthy(monkeypatch: pytest.MonkeyPatch, statsd: socket.socket) -> None:
    """Two symbols, one per partition, a trade every 20 minutes of 08:50-10:10 (Kafka timestamp 20 ms
    later), all stored, bars as the job writes them; one malformed record in partition 0."""
    FakeKafka.records, FakeKafka.reads = {}, []
    FakeStored.rows, FakeStored.stored_bars = {}, {}
    for partition, symbol in ((0, "AAPL"), (1, "BINANCE:BTCUSDT")):
        values = [
            (
                HOUR_START + minute * 60_000 + 20,
                trade_value(symbol, HOUR_START + minute * 60_000, f"{symbol}-{i}"),
            )
            for i, minute in enumerate(range(-10, 71, 20))
        ]
        if partition == 0:
            values.insert(1, (HOUR_START, b"not json"))
        records = [KafkaRecord(partition, offset, ts, value) for offset, (ts, value) in enumerate(values)]
        FakeKafka.records[partition] = records
        trades = [t for r in records if (t := parse_trade(r.value, partition, r.offset)) is not None]
        rows = [
            StoredTrade(t.trade_ts_ms, t.trade_id, t.price, t.volume, partition, t.kafka_offset)
            for t in trades
        ]
        FakeStored.rows[symbol] = rows
        FakeStored.stored_bars[symbol] = [
            StoredBar(w, w + 60_000, bar) for w, bar in expected_bars(rows).items()
        ]
    monkeypatch.setattr(operator_module, "KafkaRecordsHook", FakeKafka)
    monkeypatch.setattr(operator_module, "PipelineCassandraHook", FakeCassandraHook)
    monkeypatch.setattr(operator_module, "StoredTradesReader", FakeStored)
    monkeypatch.setattr(operator_module, "_now_ms", lambda: NOW_MS)
    port = statsd.getsockname()[1]
    monkeypatch.setattr(
        operator_module, "airflow_statsd_target", lambda: StatsdTarget("127.0.0.1", port, "airflow")
    )


def run(**arguments: Any) -> tuple[Any, FakeTaskInstance]:
    task_instance = FakeTaskInstance()
    context = {"dag_run": SimpleNamespace(run_after=SCHEDULED_AT), "ti": task_instance}
    operator = ReconciliationOperator(task_id="reconcile", **arguments)
    return operator.execute(context), task_instance  # type: ignore[arg-type]


def test_a_scheduled_run_checks_the_previous_hour_and_reports_no_difference(
    healthy: None, statsd: socket.socket
) -> None:
    report, task_instance = run()

    assert report["differences"] == 0
    assert report["windows"][0]["window"] == "2026-05-01T09:00Z"
    assert report["windows"][0]["rejected_records"] == 1
    assert report["symbols"]["BINANCE:BTCUSDT"]["checked_trades"] == 3  # 09:10, 09:30, 09:50
    assert task_instance.xcom["report"]["summary"].startswith("reconciliation found no difference")
    sent = gauges(statsd)
    assert sent["airflow.reconciliation.missing_trades|#symbol:BINANCE:BTCUSDT"] == "0"
    assert sent["airflow.reconciliation.wrong_bars|#symbol:AAPL"] == "0"
    assert sent["airflow.reconciliation.checked_window_start_timestamp_seconds"] == str(HOUR_START // 1000)
    assert sent["airflow.reconciliation.windows_checked"] == "1"


def test_the_kafka_read_spans_the_hour_from_one_minute_before_to_the_grace_after(healthy: None) -> None:
    run(late_grace_minutes="10")

    (ranges,) = FakeKafka.reads
    # Partition 1: records at 08:50, 09:10, 09:30, 09:50, 10:10 (+20 ms): the read starts at 09:10's offset
    # and ends before 10:10's, which reached Kafka after 10:10.
    assert ranges[1] == (1, 4)


def test_a_deleted_row_and_a_changed_bar_fail_the_task_naming_symbol_hour_and_repair(
    healthy: None, statsd: socket.socket
) -> None:
    rows = FakeStored.rows["BINANCE:BTCUSDT"]
    deleted = next(row for row in rows if row.trade_ts_ms == HOUR_START + 10 * 60_000)
    FakeStored.rows["BINANCE:BTCUSDT"] = [row for row in rows if row is not deleted]
    bars = FakeStored.stored_bars["BINANCE:BTCUSDT"]
    changed = next(i for i, bar in enumerate(bars) if bar.window_start_ms == HOUR_START + 30 * 60_000)
    bars[changed] = bars[changed]._replace(bar=dataclasses.replace(bars[changed].bar, close=1.5))

    with pytest.raises(AirflowFailException) as failure:
        run()

    message = str(failure.value)
    assert "BINANCE:BTCUSDT 2026-05-01T09:00Z: 1 missing trade(s), 0 extra row(s), 2 wrong bar(s)" in message
    assert "make reset-checkpoint FROM=2026-05-01T08:59:00Z" in message
    sent = gauges(statsd)
    assert sent["airflow.reconciliation.missing_trades|#symbol:BINANCE:BTCUSDT"] == "1"
    assert sent["airflow.reconciliation.wrong_bars|#symbol:BINANCE:BTCUSDT"] == "2"
    assert sent["airflow.reconciliation.missing_trades|#symbol:AAPL"] == "0"


def test_a_malformed_range_fails_at_once_with_the_reason_and_reads_nothing(healthy: None) -> None:
    with pytest.raises(AirflowFailException, match="refused the range: start must be an ISO-8601 UTC time"):
        run(start="last tuesday", end="2026-05-01T10:00:00Z")

    assert FakeKafka.reads == []


def test_an_hour_older_than_kafkas_earliest_record_is_skipped_as_beyond_retention(healthy: None) -> None:
    for p in FakeKafka.records:
        FakeKafka.records[p] = [r for r in FakeKafka.records[p] if r.timestamp_ms > HOUR_START + 20 * 60_000]

    with pytest.raises(AirflowSkipException) as skipped:
        run()

    assert "2026-05-01T09:00Z not checked: beyond_kafka_retention (the earliest record Kafka keeps" in str(
        skipped.value
    )
    assert "nothing is reported as lost" in str(skipped.value)
    assert FakeKafka.reads == []


def write_checkpoint(folder: Path, offsets: dict[int, int]) -> Path:
    (folder / "commits").mkdir(parents=True)
    (folder / "offsets").mkdir()
    (folder / "commits" / "7").write_text("v1\n{}\n")
    source = json.dumps({"trades": {str(p): o for p, o in offsets.items()}})
    (folder / "offsets" / "7").write_text(f"v1\n{{}}\n{source}\n")
    return folder


def test_a_job_that_has_not_written_the_hour_yet_fails_readably_without_comparing(
    healthy: None, tmp_path: Path
) -> None:
    checkpoint = write_checkpoint(tmp_path / "checkpoint", {0: 5, 1: 2})

    with pytest.raises(StreamBehindError, match=r"trades\[1\] at 2 of 4.*batch 7.*nothing was compared"):
        run(checkpoint=str(checkpoint), stream_wait_minutes="0")


def test_a_job_past_the_hour_lets_the_comparison_run(healthy: None, tmp_path: Path) -> None:
    checkpoint = write_checkpoint(tmp_path / "checkpoint", {0: 6, 1: 5})

    report, _ = run(checkpoint=str(checkpoint), stream_wait_minutes="0")

    assert report["differences"] == 0


def test_a_non_numeric_grace_is_refused_naming_the_argument(healthy: None) -> None:
    with pytest.raises(ValueError, match="late_grace_minutes must be an integer"):
        run(late_grace_minutes="ten")


def test_a_remote_checkpoint_is_not_waited_for(healthy: None) -> None:
    report, _ = run(checkpoint="s3a://bucket/checkpoints/spark_stream", stream_wait_minutes="0")

    assert report["differences"] == 0
