"""What Cassandra must hold for a set of trades, computed independently of the job in plain Python."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

Row = dict[str, Any]


def expected_trades(values: list[dict[str, Any]]) -> dict[tuple[str, str], Row]:
    """trades_v2 by (symbol, trade_id): one row per distinct trade, however often it was sent."""
    rows = {}
    for value in values:
        day = datetime.fromtimestamp(value["trade_ts_ms"] / 1000, UTC)
        rows[(value["symbol"], value["trade_id"])] = {
            "partition": (value["symbol"], day.year, day.month, day.day),
            "ts_ms": value["trade_ts_ms"],
            "price": value["price"],
            "volume": value["volume"],
            "conditions": value["conditions"],
        }
    return rows


def expected_bars(values: list[dict[str, Any]]) -> dict[tuple[str, int], Row]:
    """trade_aggregates by (symbol, window start ms): 1-minute bars of the distinct trades."""
    windows: dict[tuple[str, int], list[tuple[int, str, float, float]]] = defaultdict(list)
    for (symbol, trade_id), row in expected_trades(values).items():
        start = row["ts_ms"] // 60_000 * 60_000
        windows[(symbol, start)].append((row["ts_ms"], trade_id, row["price"], row["volume"]))
    bars = {}
    for (symbol, start), trades in windows.items():
        trades.sort()  # by trade time, then trade_id: the documented tie-break
        prices = [price for _, _, price, _ in trades]
        volume = math.fsum(v for _, _, _, v in trades)
        mean = math.fsum(prices) / len(prices)
        bars[(symbol, start)] = {
            "open": prices[0],
            "close": prices[-1],
            "high": max(prices),
            "low": min(prices),
            "volume": volume,
            "trade_count": len(trades),
            "vwap": math.fsum(p * v for _, _, p, v in trades) / volume if volume > 0 else None,
            "mean_price": mean,
            "stddev_price": math.sqrt(math.fsum((p - mean) ** 2 for p in prices) / len(prices)),
            "first_trade_ts": trades[0][0],
            "last_trade_ts": trades[-1][0],
        }
    return bars


def stored_trades(session: Any, keyspace: str) -> dict[tuple[str, str], Row]:
    rows = session.execute(
        f"SELECT symbol, trade_year, trade_month, trade_day, timestamp, trade_id, price, volume, conditions "
        f"FROM {keyspace}.trades_v2",
        timeout=60,
    )
    stored: dict[tuple[str, str], Row] = {}
    for row in rows:
        key = (row.symbol, row.trade_id)
        assert key not in stored, f"trade {key} is stored twice"
        stored[key] = {
            "partition": (row.symbol, row.trade_year, row.trade_month, row.trade_day),
            "ts_ms": _ms(row.timestamp),
            "price": row.price,
            "volume": row.volume,
            "conditions": list(row.conditions or []),
        }
    return stored


def stored_bars(session: Any, keyspace: str) -> dict[tuple[str, int], Row]:
    rows = session.execute(f"SELECT * FROM {keyspace}.trade_aggregates", timeout=60)
    bars = {}
    for row in rows:
        start = _ms(row.window_start)
        assert _ms(row.window_end) == start + 60_000
        bars[(row.symbol, start)] = {
            "open": row.open,
            "close": row.close,
            "high": row.high,
            "low": row.low,
            "volume": row.volume,
            "trade_count": row.trade_count,
            "vwap": row.vwap,
            "mean_price": row.mean_price,
            "stddev_price": row.stddev_price,
            "first_trade_ts": _ms(row.first_trade_ts),
            "last_trade_ts": _ms(row.last_trade_ts),
        }
    return bars


def _ms(value: datetime) -> int:
    return round(value.replace(tzinfo=UTC).timestamp() * 1000)


def differences(expected: dict[Any, Row], stored: dict[Any, Row], limit: int = 5) -> list[str]:
    """Readable differences (floats compared to 1e-9 relative), empty when they agree."""
    found = []
    for key in sorted(expected.keys() | stored.keys(), key=str):
        want, got = expected.get(key), stored.get(key)
        if want is None or got is None:
            found.append(f"{key}: expected {want}, stored {got}")
        else:
            for column, value in want.items():
                other = got[column]
                same = (
                    math.isclose(value, other, rel_tol=1e-9, abs_tol=1e-12)
                    if isinstance(value, float) and isinstance(other, float)
                    else value == other
                )
                if not same:
                    found.append(f"{key}.{column}: expected {value!r}, stored {other!r}")
        if len(found) >= limit:
            break
    return found
