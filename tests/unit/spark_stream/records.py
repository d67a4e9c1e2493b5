"""Trade records as the producer writes them (contracts.TRADE_FIELDS), varied one field at a time."""

from __future__ import annotations

import json
from typing import Any

from services import contracts

MISSING = object()


def trade_record(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "schema_version": contracts.TRADE_SCHEMA_VERSION,
        "trade_id": "f00d-0",
        "symbol": "AAPL",
        "price": 189.5,
        "volume": 10.0,
        "trade_ts_ms": 1_700_000_000_123,
        "conditions": ["1", "12"],
        "received_at_ms": 1_700_000_000_200,
    }
    record.update(overrides)
    return {name: value for name, value in record.items() if value is not MISSING}


def encoded(**overrides: Any) -> bytes:
    """The record as Kafka value bytes; NaN/Infinity come out as bare literals, as from a buggy producer."""
    return json.dumps(trade_record(**overrides)).encode()
