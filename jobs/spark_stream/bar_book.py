"""The driver's book of recent bars: each recent window's distinct trades with the running figures of its bar
(`bars.WindowTrades`), so that a batch's bars cost its own trades, not a re-read of every minute it touched.

Before a batch's writes, `BatchWriter` reads from `trades_v2` the windows of the batch the book does not
hold (after a start or a failed batch, a late trade into an old minute, an evicted minute); once the
batch's trades are written it adds them here and writes the bars it gets back. A window the book cannot
extend safely (a trade key seen before with other figures) is read back whole after the writes instead:
the book only ever holds exactly what `trades_v2` holds for its windows (see README.md, "Exactly-once
bars").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from jobs.spark_stream.bars import Bar, BarTrade, WindowTrades

if TYPE_CHECKING:  # the settings import this module's default; cql would bring pyspark along
    from jobs.spark_stream.cql import Window

DEFAULT_MAX_TRADES = 200_000
"""Trades the bar book holds at most (~270 bytes each on the driver): about 3 minutes at 1,000 trades/s."""


class BarBook:
    """Recent windows' trades, held on the driver between batches; empty after a restart (then read back).

    It is only right while this job is the only writer of `trades_v2` (the design's assumption already: the
    bars of the minutes it writes are its own), and only for trades whose writes succeeded: the writer adds a
    batch's trades after every task wrote them, and clears the book when anything in a batch fails.
    At most `max_trades` trades are held; the windows touched longest ago go first.
    """

    def __init__(self, max_trades: int) -> None:
        self.max_trades = max_trades
        self.windows: dict[Window, WindowTrades] = {}
        """Least recently touched first."""

    def missing(self, windows: Iterable[Window]) -> list[Window]:
        """The windows of `windows` the book does not hold: to read from `trades_v2` (then `load`)."""
        return [window for window in windows if window not in self.windows]

    def add(self, trades: Mapping[Window, Sequence[BarTrade]]) -> list[Window]:
        """Add each window's trades to the window held; return the windows to read back from `trades_v2`
        (then `load`): those not held, and those with a trade whose key is held with other figures."""
        to_read = []
        for window, window_trades in trades.items():
            held = self.windows.pop(window, None)
            if held is not None and all([held.add(trade) for trade in window_trades]):
                self.windows[window] = held  # now the most recently touched
            else:
                to_read.append(window)
        return to_read

    def load(self, window: Window, stored: Iterable[BarTrade]) -> None:
        """Hold `window` with exactly its trades as read back from `trades_v2` (unique keys)."""
        self.windows.pop(window, None)
        self.windows[window] = WindowTrades.of(stored)

    def bar(self, window: Window) -> Bar:
        return self.windows[window].bar()

    def clear(self) -> None:
        """Hold nothing (a batch failed: what it wrote is not known here, so every window is read back)."""
        self.windows.clear()

    @property
    def trade_count(self) -> int:
        return sum(len(held) for held in self.windows.values())

    def evict(self) -> None:
        """Drop the least recently touched windows until at most `max_trades` trades are held."""
        held = self.trade_count
        while held > self.max_trades:
            held -= len(self.windows.pop(next(iter(self.windows))))
