"""Encode trades and dead letters as Kafka records, in the shapes services/contracts.py defines.

Pure: the service loop hands the records to the Kafka sink. Keys are the symbol's UTF-8 so one symbol's
trades stay in one partition, in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import orjson

from services import contracts
from services.producer.frames import DeadLetter, Trade

DEAD_LETTER_SOURCE = "producer"


class KafkaRecord(NamedTuple):
    """One message for Kafka; `symbol` is kept for logs and delivery reports."""

    topic: str
    key: bytes | None
    value: bytes
    symbol: str | None


def trade_messages(trades: Sequence[Trade]) -> list[dict[str, bytes]]:
    """The trades as messages for `Producer.produce_batch`, in order: {"key": symbol, "value": the versioned
    record of contracts.TRADE_FIELDS, fields in that order}. The one encoder of trades: it runs for every
    trade, so it builds each value in one step.
    """
    dumps, version = orjson.dumps, contracts.TRADE_SCHEMA_VERSION
    return [
        {
            "key": symbol.encode("utf-8"),
            "value": dumps(
                {
                    "schema_version": version,
                    "trade_id": trade_id,
                    "symbol": symbol,
                    "price": price,
                    "volume": volume,
                    "trade_ts_ms": trade_ts_ms,
                    "conditions": conditions,
                    "received_at_ms": received_at_ms,
                }
            ),
        }
        for trade_id, symbol, price, volume, trade_ts_ms, conditions, received_at_ms in trades
    ]


def dead_letter_value(dead_letter: DeadLetter) -> dict[str, object]:
    """The dead letter as the record of contracts.DEAD_LETTER_FIELDS, fields in that order."""
    return {
        "source": DEAD_LETTER_SOURCE,
        "reason": dead_letter.reason.value,
        "detail": dead_letter.detail,
        "raw": dead_letter.raw[: contracts.MAX_RAW_CHARS],
        "received_at_ms": dead_letter.received_at_ms,
    }


def dead_letter_record(dead_letter: DeadLetter, topic: str) -> KafkaRecord:
    """A dead letter as a Kafka record, keyed by the symbol of the rejected trade when it named one."""
    key = dead_letter.symbol.encode("utf-8") if dead_letter.symbol else None
    return KafkaRecord(topic, key, orjson.dumps(dead_letter_value(dead_letter)), dead_letter.symbol)
