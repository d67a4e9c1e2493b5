"""The 1-minute bar (OHLCV + statistics) of one symbol, computed from all of that minute's trades.

Pure Python. `WindowTrades` holds a minute's distinct trades with exact running sums, so that the job's driver
(`bar_book`) adds a batch's trades and gets the bar without re-reading or re-sorting the minute; `compute_bar`
is the same computation over a whole list (the reconciliation's recomputation), so both give the same bits.
See README.md, "Exactly-once bars".
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


TradeKey = tuple[int, str]
"""(trade_ts_ms, trade_id): a trade's identity within its symbol, the clustering key of `trades_v2`, and the
bar's order (open and close are the first and last trade by it)."""


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


class _ExactSum:
    """The exact sum of finite doubles, as an integer over a power of two (every double is one): adding is
    exact and order-free, and `value()` rounds once, correctly: it equals `math.fsum` of the same values."""

    __slots__ = ("exponent", "numerator")

    def __init__(self) -> None:
        self.numerator, self.exponent = 0, 0

    def add(self, value: float) -> None:
        numerator, denominator = value.as_integer_ratio()
        exponent = denominator.bit_length() - 1
        if exponent > self.exponent:
            self.numerator <<= exponent - self.exponent
            self.exponent = exponent
        self.numerator += numerator << (self.exponent - exponent)

    def value(self) -> float:
        return self.numerator / (1 << self.exponent)  # int / int: correctly rounded


class WindowTrades:
    """A window's distinct trades (by `TradeKey`) and the running figures of its bar.

    Adding a trade is O(1); `bar()` needs one pass over the prices, for the standard deviation. The figures
    are the same bits as summing the whole list with `math.fsum`, in any order: volume, the sum of prices and
    the sum of price * volume (each product rounded, as `compute_bar` always has) are exact sums rounded once.
    """

    __slots__ = (
        "_first",
        "_last",
        "_price_sum",
        "_price_volume_sum",
        "_volume_sum",
        "high",
        "low",
        "trades",
    )

    def __init__(self) -> None:
        self.trades: dict[TradeKey, tuple[float, float]] = {}
        """(price, volume) by trade key."""
        self._first: TradeKey | None = None
        self._last: TradeKey | None = None
        self.high, self.low = -math.inf, math.inf
        self._volume_sum, self._price_sum, self._price_volume_sum = _ExactSum(), _ExactSum(), _ExactSum()

    @classmethod
    def of(cls, trades: Iterable[BarTrade]) -> WindowTrades:
        window = cls()
        for trade in trades:
            if not window.add(trade):
                raise ValueError(
                    f"two trades with key ({trade.trade_ts_ms}, {trade.trade_id!r}) and different figures"
                )
        return window

    def __len__(self) -> int:
        return len(self.trades)

    def add(self, trade: BarTrade) -> bool:
        """Add `trade` unless it is already held. False, changing nothing, when a trade with its key is held
        with another price or volume: which of the two Cassandra kept is then not known here."""
        key = (trade.trade_ts_ms, trade.trade_id)
        figures = (trade.price, trade.volume)
        held = self.trades.get(key)
        if held is not None:
            return held == figures
        self.trades[key] = figures
        price, volume = figures
        if self._first is None or key < self._first:
            self._first = key
        if self._last is None or key > self._last:
            self._last = key
        if price > self.high:
            self.high = price
        if price < self.low:
            self.low = price
        self._volume_sum.add(volume)
        self._price_sum.add(price)
        self._price_volume_sum.add(price * volume)
        return True

    def bar(self) -> Bar:
        """The bar of the trades held (at least one)."""
        if self._first is None or self._last is None:
            raise ValueError("a bar needs at least one trade")
        count = len(self.trades)
        volume = self._volume_sum.value()
        mean_price = self._price_sum.value() / count
        variance = math.fsum((price - mean_price) ** 2 for price, _ in self.trades.values()) / count
        return Bar(
            open=self.trades[self._first][0],
            high=self.high,
            low=self.low,
            close=self.trades[self._last][0],
            volume=volume,
            trade_count=count,
            vwap=self._price_volume_sum.value() / volume if volume > 0 else None,
            mean_price=mean_price,
            stddev_price=math.sqrt(variance),
            first_trade_ts_ms=self._first[0],
            last_trade_ts_ms=self._last[0],
        )


def compute_bar(trades: Iterable[BarTrade]) -> Bar:
    """The bar of a non-empty set of trades (distinct keys), independent of the order they come in.

    Ties in trade time are broken by `trade_id` (ascending), the clustering order of `trades_v2`, so two
    trades in the same millisecond always give the same open and close. A trade repeated with the same
    figures counts once; two trades with one key and different figures are an error.
    """
    return WindowTrades.of(trades).bar()
