"""Kafka records: the trade and dead-letter values match services/contracts.py field for field."""

from __future__ import annotations

import json

from services import contracts
from services.producer.frames import DeadLetter, DeadLetterReason, Trade
from services.producer.records import dead_letter_record, trade_messages


def encoded(trade: Trade) -> dict[str, bytes]:
    """One trade through the producer's encoder (`trade_messages`, which the service calls per frame)."""
    (message,) = trade_messages([trade])
    return message


TRADE = Trade(
    "0123456789abcdef-4", "IC MARKETS:1", 1.08345, 0.5, 1_700_000_000_123, ("1", "12"), 1_700_000_000_456
)


def test_trade_record_value_has_exactly_the_contract_fields_in_order() -> None:
    value = json.loads(encoded(TRADE)["value"])
    assert tuple(value) == contracts.TRADE_FIELDS


def test_trade_record_value_carries_the_trade_and_the_schema_version() -> None:
    value = json.loads(encoded(TRADE)["value"])
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


def test_trade_message_is_keyed_by_the_symbol_in_utf8() -> None:
    assert encoded(TRADE)["key"] == b"IC MARKETS:1"


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


def test_a_frames_messages_are_each_trade_encoded_alone_in_order() -> None:
    trades = [TRADE, TRADE._replace(trade_id="0123456789abcdef-5", symbol="AAPL", conditions=(), price=2e-7)]
    assert trade_messages(trades) == [encoded(trade) for trade in trades]


def test_a_trade_holds_the_contract_fields_after_the_schema_version_in_order() -> None:
    assert ("schema_version", *Trade._fields) == contracts.TRADE_FIELDS


def test_each_encoded_field_has_the_json_type_of_its_contract_type() -> None:
    json_types = {"int": int, "bigint": int, "double": float, "string": str, "array<string>": list}
    value = json.loads(encoded(TRADE)["value"])
    for field in contracts.TRADE_RECORD:
        assert isinstance(value[field.name], json_types[field.type]), field
