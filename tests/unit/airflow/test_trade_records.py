"""The reconciliation's reading of a Kafka record agrees with the Spark job's: the same records are trades,
with the same keys, and the same records are dead-lettered. Held against the job's own transform
(`parse_trade_records` + `outcome_rows`) on one local Spark session."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from finnhub_pipeline.trade_records import KafkaTrade, parse_trade
from services import contracts

TS = 1_777_626_000_123


def record(**overrides: Any) -> bytes:
    fields: dict[str, Any] = {
        "schema_version": 1,
        "trade_id": "abc-0",
        "symbol": "BINANCE:BTCUSDT",
        "price": 64000.5,
        "volume": 0.25,
        "trade_ts_ms": TS,
        "conditions": ["1"],
        "received_at_ms": TS + 40,
    }
    fields.update(overrides)
    return json.dumps({k: v for k, v in fields.items() if v is not OMIT}).encode()


OMIT = object()

CASES: dict[str, bytes | None] = {
    "valid": record(),
    "valid without conditions": record(conditions=OMIT),
    "valid with null conditions": record(conditions=None),
    "valid with zero volume (a price update)": record(volume=0),
    "valid with integer price": record(price=5),
    "valid with an unknown extra field": record(extra="x"),
    "valid with a numeric trade_id (read as its text)": record(trade_id=17),
    "valid with a float trade_id": b'{"schema_version":1,"trade_id":1.50,"symbol":"S",'
    b'"price":1.0,"volume":1.0,"trade_ts_ms":5,"received_at_ms":6}',
    "valid with an exponent trade_id": b'{"schema_version":1,"trade_id":1e3,"symbol":"S",'
    b'"price":1.0,"volume":1.0,"trade_ts_ms":5,"received_at_ms":6}',
    "valid with a boolean symbol": record(symbol=True),
    "valid with a large float trade_id": record(trade_id=12345678.9),
    "valid with a tiny float trade_id": record(trade_id=0.00001),
    "valid with a huge float trade_id": record(trade_id=1e21),
    "valid with a blank-padded symbol": record(symbol=" S "),
    "null value (tombstone)": None,
    "not JSON": b"not json",
    "JSON array": b"[1, 2]",
    "JSON string": b'"hello"',
    "schema version 2": record(schema_version=2),
    "schema version missing": record(schema_version=OMIT),
    "schema version as a string": record(schema_version="1"),
    "schema version 1.0": b'{"schema_version":1.0,"trade_id":"a","symbol":"S","price":1.0,"volume":1.0,'
    b'"trade_ts_ms":5,"received_at_ms":6}',
    "trade_id missing": record(trade_id=OMIT),
    "trade_id blank": record(trade_id="   "),
    "symbol empty": record(symbol=""),
    "trade_ts_ms missing": record(trade_ts_ms=OMIT),
    "trade_ts_ms as a string": record(trade_ts_ms=str(TS)),
    "trade_ts_ms as a float": record(trade_ts_ms=TS + 0.5),
    "received_at_ms null": record(received_at_ms=None),
    "price zero": record(price=0),
    "price negative": record(price=-1.5),
    "price as a string": record(price="1.5"),
    "price NaN": b'{"schema_version":1,"trade_id":"a","symbol":"S","price":NaN,"volume":1.0,"trade_ts_ms":5,'
    b'"received_at_ms":6}',
    "price Infinity as a string": record(price="Infinity"),
    "price true": record(price=True),
    "volume negative": record(volume=-0.1),
    "volume missing": record(volume=OMIT),
    "conditions as a string": record(conditions="1"),
    "conditions as an object": record(conditions={"a": 1}),
    "valid with invalid UTF-8 in trade_id": b'{"schema_version":1,"trade_id":"\xff","symbol":"S","price":1.0,'
    b'"volume":1.0,"trade_ts_ms":5,"received_at_ms":6}',
}


@pytest.fixture(scope="module")
def job_outcome() -> Iterator[dict[int, tuple[str, int, str] | None]]:
    """offset -> (symbol, trade_ts_ms, trade_id) of the job's trade row, or None when it dead-letters."""
    from jobs.spark_stream.batch_rows import collect_outcomes
    from jobs.spark_stream.transforms import outcome_rows, parse_trade_records
    from testkit.spark import unit_test_session

    # The session tests/unit/spark_stream uses too: whichever test creates it first, the other reuses it.
    spark = unit_test_session()
    timestamp = datetime.fromtimestamp(TS / 1000, tz=UTC)
    rows = [
        (b"S", value, contracts.TRADES_TOPIC, 0, offset, timestamp)
        for offset, value in enumerate(CASES.values())
    ]
    frame = spark.createDataFrame(
        rows, "key binary, value binary, topic string, partition int, offset long, timestamp timestamp"
    )
    outcome: dict[int, tuple[str, int, str] | None] = {}
    trades, dead_letters = collect_outcomes(outcome_rows(parse_trade_records(frame, None)))
    for trade in trades:
        outcome[trade.kafka_offset] = (trade.symbol, trade.trade_ts_ms, trade.trade_id)
    for dead_letter in dead_letters:
        outcome[dead_letter.kafka_offset] = None
    yield outcome


@pytest.mark.parametrize(("offset", "name"), list(enumerate(CASES)), ids=list(CASES))
def test_a_record_is_a_trade_exactly_when_the_job_stores_it(
    job_outcome: dict[int, tuple[str, int, str] | None], offset: int, name: str
) -> None:
    trade = parse_trade(CASES[name], 0, offset)

    mine = None if trade is None else (trade.symbol, trade.trade_ts_ms, trade.trade_id)
    assert mine == job_outcome[offset]
    assert (mine is not None) == name.startswith("valid")


def test_a_valid_record_keeps_its_kafka_coordinates_and_values() -> None:
    assert parse_trade(record(), 2, 99) == KafkaTrade("BINANCE:BTCUSDT", TS, "abc-0", 64000.5, 0.25, 2, 99)
