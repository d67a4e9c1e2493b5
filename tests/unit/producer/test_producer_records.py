"""Kafka records: the trade and dead-letter values match services/contracts.py field for field."""

from __future__ import annotations

import json

from services import contracts
from services.producer.frames import DeadLetter, DeadLetterReason, Trade
from services.producer.records import dead_letter_record, trade_messages, trade_record

TRADE = Trade(
    "0123456789abcdef-4", "IC MARKETS:1", 1.08345, 0.5, 1_700_000_000_123, ("1", "12"), 1_700_000_000_456
)


def test_trade_record_value_has_exactly_the_contract_fields_in_order() -> None:
    value = json.loads(trade_record(TRADE, "trades").value)
    assert tuple(value) == contracts.TRADE_FIELDS


def test_trade_record_value_carries_the_trade_and_the_schema_version() -> None:
    value = json.loads(trade_record(TRADE, "trades").value)
    assert value == {
        "schema_version": contracts.TRADE_SCHEMA_VERSION,
        "trade_id": "0123456789abcdef-4",
        "symbol": "IC MARKETS:1",
        "price": 1.08345,
        "volume": 0.5,
        "trade_ts_ms": 1_700_000_000_123,
        "conditions": ["1", "12"],
        "received_at_ms": 1_700_000_000_456,
    }
    assert isinstance(value["trade_ts_ms"], int) and isinstance(value["price"], float)


def test_trade_record_is_keyed_by_the_symbol_in_utf8_on_the_given_topic() -> None:
    record = trade_record(TRADE, "trades-x")
    assert record.key == b"IC MARKETS:1"
    assert record.topic == "trades-x"


def test_dead_letter_record_value_has_exactly_the_contract_fields_in_order() -> None:
    dead = DeadLetter(DeadLetterReason.NEGATIVE_VOLUME, "v=-1", '{"v":-1}', 1_700_000_000_000, "AAPL")
    value = json.loads(dead_letter_record(dead, "trades.dead_letter").value)
    assert tuple(value) == contracts.DEAD_LETTER_FIELDS
    assert value == {
        "source": "producer",
        "reason": "negative_volume",
        "detail": "v=-1",
        "raw": '{"v":-1}',
        "received_at_ms": 1_700_000_000_000,
    }


def test_dead_letter_of_a_whole_frame_has_no_key() -> None:
    dead = DeadLetter(DeadLetterReason.NOT_JSON, "not JSON", "garbage", 1)
    assert dead_letter_record(dead, "dlq").key is None


def test_batch_messages_carry_the_same_key_and_value_bytes_as_single_records() -> None:
    trades = [TRADE, TRADE._replace(trade_id="0123456789abcdef-5", symbol="AAPL", conditions=(), price=2e-7)]
    messages = trade_messages(trades)
    assert [(m["key"], m["value"]) for m in messages] == [
        (record.key, record.value) for record in (trade_record(t, "trades") for t in trades)
    ]


def test_a_trade_holds_the_contract_fields_after_the_schema_version_in_order() -> None:
    assert ("schema_version", *Trade._fields) == contracts.TRADE_FIELDS


def test_each_encoded_field_has_the_json_type_of_its_contract_type() -> None:
    json_types = {"int": int, "bigint": int, "double": float, "string": str, "array<string>": list}
    value = json.loads(trade_record(TRADE, "trades").value)
    for field in contracts.TRADE_RECORD:
        assert isinstance(value[field.name], json_types[field.type]), field
