"""A Kafka record of the `trades` topic as the reconciliation sees it: the trade the Spark job writes to
`trades_v2` for it, or None when the job dead-letters it instead.

Pure Python with the job's rules (`jobs.spark_stream.transforms.parse_trade_records`, Spark's JSON reader in
PERMISSIVE mode on the `contracts.TRADE_RECORD` schema): a JSON object whose fields have the record's types,
`schema_version` 1, `trade_id`, `symbol`, `trade_ts_ms` and `received_at_ms` present and not blank, a finite
price > 0 and a finite volume >= 0. `tests/unit/airflow/test_trade_records.py` holds it against the job's
transform on the same records. The job's sixth rule (older than the trades TTL) is the caller's: it never
checks an hour that old.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any, NamedTuple

from services import contracts

LONG_RANGE = (-(2**63), 2**63 - 1)
INT_RANGE = (-(2**31), 2**31 - 1)
REQUIRED_FIELDS = ("trade_id", "symbol", "trade_ts_ms", "received_at_ms")
"""As the job's transforms.REQUIRED_FIELDS (the version, price and volume have rules of their own)."""
# Spark's JSON reader reads these strings as the special doubles; every other string is no double.
NON_FINITE_STRINGS = frozenset({"NaN", "+NaN", "-NaN", "Infinity", "+Infinity", "-Infinity", "+INF", "-INF"})


class KafkaTrade(NamedTuple):
    """A valid trade record and where it is in Kafka."""

    symbol: str
    trade_ts_ms: int
    trade_id: str
    price: float
    volume: float
    kafka_partition: int
    kafka_offset: int


def _java_double_text(number: float) -> str:
    """A double as Java's `Double.toString` writes it, which is how Spark reads a JSON number into a string
    field: `1.5`, `1000.0`, and outside [1e-3, 1e7) `1.2345678E7`, `1.0E-5`."""
    if not math.isfinite(number):
        return {math.inf: "Infinity", -math.inf: "-Infinity"}.get(number, "NaN")
    if number == 0 or 1e-3 <= abs(number) < 1e7:
        text = repr(number)
        return text if "e" not in text else format(Decimal(text), "f")
    sign, digits, exponent = Decimal(repr(number)).normalize().as_tuple()
    assert isinstance(exponent, int)
    shown = "".join(map(str, digits))
    power = exponent + len(shown) - 1
    return f"{'-' if sign else ''}{shown[0]}.{shown[1:] or '0'}E{power}"


class _Malformed(Exception):
    """A field's JSON value has no value of the field's type: Spark marks the whole record malformed."""


def _as_long(value: Any, bounds: tuple[int, int] = LONG_RANGE) -> int | None:
    if value is None:
        return None
    if type(value) is not int or not bounds[0] <= value <= bounds[1]:
        raise _Malformed
    return value


def _as_double(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise _Malformed
    if isinstance(value, int | float):
        try:
            return float(value)
        except OverflowError:  # an integer beyond the double range: Spark reads it as infinity
            return math.inf
    if isinstance(value, str) and value in NON_FINITE_STRINGS:
        return math.nan
    raise _Malformed


def _as_string(value: Any) -> str | None:
    """Spark reads any JSON value into a string field: a string as itself, anything else as its JSON text."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _java_double_text(value)
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _check_conditions(value: Any) -> None:
    if value is not None and not isinstance(value, list):
        raise _Malformed


def _blank(value: str | int | None) -> bool:
    # Spark's trim() removes spaces only, not other whitespace.
    return value is None or str(value).strip(" ") == ""


def _finite(number: float | None) -> bool:
    return number is not None and math.isfinite(number)


def parse_trade(value: bytes | None, kafka_partition: int, kafka_offset: int) -> KafkaTrade | None:
    """The trade the job stores for this record value, or None when the job would dead-letter it."""
    if value is None:
        return None
    try:
        record = json.loads(value.decode("utf-8", errors="replace"))
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    try:
        version = _as_long(record.get("schema_version"), INT_RANGE)
        trade_id = _as_string(record.get("trade_id"))
        symbol = _as_string(record.get("symbol"))
        price = _as_double(record.get("price"))
        volume = _as_double(record.get("volume"))
        trade_ts_ms = _as_long(record.get("trade_ts_ms"))
        _check_conditions(record.get("conditions"))
        received_at_ms = _as_long(record.get("received_at_ms"))
    except _Malformed:
        return None
    if version != contracts.TRADE_SCHEMA_VERSION:
        return None
    required = {
        "trade_id": trade_id,
        "symbol": symbol,
        "trade_ts_ms": trade_ts_ms,
        "received_at_ms": received_at_ms,
    }
    if any(_blank(required[name]) for name in REQUIRED_FIELDS):
        return None
    if not _finite(price) or price is None or price <= 0:
        return None
    if not _finite(volume) or volume is None or volume < 0:
        return None
    assert symbol is not None and trade_id is not None and trade_ts_ms is not None
    return KafkaTrade(symbol, trade_ts_ms, trade_id, price, volume, kafka_partition, kafka_offset)
