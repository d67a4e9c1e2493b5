"""The 1-minute bar (OHLCV + statistics) of one symbol, computed from all of that minute's trades.

Pure Python: `executor_task.recompute_bars` calls it on executors with the trades it read back from
`trades_v2`, so a bar is always a recomputation from the stored raw trades (see README.md, "Exactly-once
bars").
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

BAR_WINDOW_MS = 60_000
"""Bars are 1-minute tumbling windows aligned to the epoch; a UTC day holds exactly 1440 of them."""


class BarTrade(NamedTuple):
    """The fields of a stored trade that a bar needs."""

    trade_ts_ms: int
    trade_id: str
    price: float
    volume: float


@dataclass(frozen=True)
class Bar:
    """One window's figures; `open`/`close` are the first/last trade by (trade_ts_ms, trade_id)."""

    open: float
    high: float
    low: float
    close: float
    volume: float
    trade_count: int
    vwap: float | None
    """sum(price * volume) / sum(volume); None when the window's volume is 0 (only price updates)."""
    mean_price: float
    stddev_price: float
    """Population standard deviation: the window's trades are the whole population, and one trade gives 0."""
    first_trade_ts_ms: int
    last_trade_ts_ms: int


def window_start_ms(trade_ts_ms: int, window_ms: int = BAR_WINDOW_MS) -> int:
    """Start of the tumbling window holding `trade_ts_ms` (floor division also rounds pre-1970 times down)."""
    return trade_ts_ms - trade_ts_ms % window_ms


def compute_bar(trades: Iterable[BarTrade]) -> Bar:
    """The bar of a non-empty set of trades, independent of the order they come in.

    Ties in trade time are broken by `trade_id` (ascending), the clustering order of `trades_v2`, so two
    trades in the same millisecond always give the same open and close.
    """
    ordered = sorted(trades, key=lambda trade: (trade.trade_ts_ms, trade.trade_id))
    if not ordered:
        raise ValueError("a bar needs at least one trade")
    prices = [trade.price for trade in ordered]
    count = len(ordered)
    volume = math.fsum(trade.volume for trade in ordered)
    mean_price = math.fsum(prices) / count
    variance = math.fsum((price - mean_price) ** 2 for price in prices) / count
    vwap = math.fsum(trade.price * trade.volume for trade in ordered) / volume if volume > 0 else None
    return Bar(
        open=ordered[0].price,
        high=max(prices),
        low=min(prices),
        close=ordered[-1].price,
        volume=volume,
        trade_count=count,
        vwap=vwap,
        mean_price=mean_price,
        stddev_price=math.sqrt(variance),
        first_trade_ts_ms=ordered[0].trade_ts_ms,
        last_trade_ts_ms=ordered[-1].trade_ts_ms,
    )
