"""The simulator's market: a deterministic tape of trades per symbol, and the frames that carry them.

Symbol X's n-th trade depends only on the seed and X, so a test can regenerate what was sent with
`SymbolTape(seed, "X").take(n)`. Tapes live as long as the simulator process: a client that reconnects
continues each symbol's sequence, neither replaying nor skipping.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import orjson

STOCK_CONDITIONS: tuple[tuple[str, ...], ...] = (
    ("1",),
    ("1", "12"),
    ("1", "24"),
    ("1", "8", "12"),
    ("1", "12", "37"),
    ("1", "8", "24", "12"),
)
"""Condition-code lists a stock trade carries (as in Finnhub's recorded frames)."""
CRYPTO_PREFIXES = (
    "BINANCE:",
    "COINBASE:",
    "KRAKEN:",
    "BITFINEX:",
    "BITSTAMP:",
    "GEMINI:",
    "HUOBI:",
    "POLONIEX:",
)
FX_PREFIXES = ("OANDA:", "FXCM:", "FOREX:", "IC MARKETS:", "FXPRO:", "PEPPERSTONE:", "SAXO:")


class AssetKind(StrEnum):
    """Drives a tape's price scale, volume shape and conditions."""

    STOCK = "stock"
    CRYPTO = "crypto"
    FX = "fx"


def asset_kind(symbol: str) -> AssetKind:
    """Crypto and FX by exchange prefix, stock otherwise."""
    if symbol.startswith(CRYPTO_PREFIXES):
        return AssetKind.CRYPTO
    if symbol.startswith(FX_PREFIXES):
        return AssetKind.FX
    return AssetKind.STOCK


@dataclass(frozen=True, slots=True)
class TapeTrade:
    """A trade before it is stamped with a time. `conditions` None means Finnhub's `c` is absent."""

    symbol: str
    price: float
    volume: float | int
    conditions: tuple[str, ...] | None
    same_ms_as_next: bool

    def to_json(self, trade_ts_ms: int) -> dict[str, object]:
        """The trade as Finnhub sends it (keys in Finnhub's order)."""
        if self.conditions is None:
            return {"p": self.price, "s": self.symbol, "t": trade_ts_ms, "v": self.volume}
        return {
            "c": list(self.conditions),
            "p": self.price,
            "s": self.symbol,
            "t": trade_ts_ms,
            "v": self.volume,
        }


class SymbolTape:
    """One symbol's endless, seeded trade sequence: a random walk in price, clusters of same-ms trades."""

    def __init__(self, seed: int, symbol: str) -> None:
        self.symbol = symbol
        self.kind = asset_kind(symbol)
        self._rng = random.Random(f"{seed}:{symbol}")
        if self.kind is AssetKind.STOCK:
            self._price, self._decimals = self._rng.uniform(20, 600), 2
        elif self.kind is AssetKind.CRYPTO:
            self._price = 10 ** self._rng.uniform(-1, 4.8)
            self._decimals = 2 if self._price >= 10 else 6
        else:
            self._price, self._decimals = self._rng.uniform(0.6, 1.9), 5
        self._floor = 10.0**-self._decimals
        self._cluster_left = 0
        self._returned: deque[TapeTrade] = deque()

    def next_trade(self) -> TapeTrade:
        """The next trade of the sequence (trades given back come first, in order)."""
        if self._returned:
            return self._returned.popleft()
        rng = self._rng
        if self._cluster_left == 0:
            self._cluster_left = 1 if rng.random() < 0.7 else 2 + int(rng.random() * 5)
            self._price = max(self._price * (1 + (rng.random() - 0.5) * 0.002), self._floor)
        self._cluster_left -= 1
        price = round(self._price, self._decimals)
        roll = rng.random()
        conditions: tuple[str, ...] | None
        volume: float | int
        if self.kind is AssetKind.STOCK:
            volume = 0 if roll < 0.03 else 1 + int(rng.random() ** 3 * 1000)
            shape = rng.random()
            if shape < 0.1:
                conditions = None
            elif shape < 0.2:
                conditions = ()
            else:
                conditions = STOCK_CONDITIONS[int((shape - 0.2) / 0.8 * len(STOCK_CONDITIONS))]
        elif self.kind is AssetKind.CRYPTO:
            volume, conditions = (0 if roll < 0.02 else round(rng.random() ** 2 * 3, 6)), None
        else:
            volume, conditions = (0 if roll < 0.9 else round(rng.random() * 1_000_000)), None
        return TapeTrade(self.symbol, price, volume, conditions, self._cluster_left > 0)

    def take(self, count: int) -> list[TapeTrade]:
        """The next `count` trades."""
        return [self.next_trade() for _ in range(count)]

    def give_back(self, trades: Iterable[TapeTrade]) -> None:
        """Put trades that could not be sent back at the head of the tape, keeping their order."""
        self._returned.extendleft(reversed(list(trades)))


class Market:
    """All symbols' tapes, and a seeded chooser of which subscribed symbol trades next."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._tapes: dict[str, SymbolTape] = {}
        self._chooser = random.Random(f"{seed}:chooser")

    def tape(self, symbol: str) -> SymbolTape:
        """The symbol's tape, created on first use and kept for the life of the process."""
        tape = self._tapes.get(symbol)
        if tape is None:
            tape = self._tapes[symbol] = SymbolTape(self.seed, symbol)
        return tape

    def take(self, symbols: Sequence[str], count: int) -> list[TapeTrade]:
        """`count` trades among `symbols`: whole same-millisecond clusters of one symbol at a time."""
        trades: list[TapeTrade] = []
        if not symbols:
            return trades
        ordered = sorted(symbols)
        while len(trades) < count:
            tape = self.tape(ordered[int(self._chooser.random() * len(ordered))])
            trade = tape.next_trade()
            trades.append(trade)
            while trade.same_ms_as_next and len(trades) < count:
                trade = tape.next_trade()
                trades.append(trade)
        return trades

    def give_back(self, trades: Sequence[TapeTrade]) -> None:
        """Return unsent trades to their tapes (per symbol, order kept)."""
        by_symbol: dict[str, list[TapeTrade]] = {}
        for trade in trades:
            by_symbol.setdefault(trade.symbol, []).append(trade)
        for symbol, returned in by_symbol.items():
            self.tape(symbol).give_back(returned)


def trade_frame(trades: Sequence[TapeTrade], trade_ts_ms: int) -> bytes:
    """A Finnhub trade frame carrying `trades`, all stamped `trade_ts_ms`."""
    return orjson.dumps({"data": [trade.to_json(trade_ts_ms) for trade in trades], "type": "trade"})


PING_FRAME = b'{"type":"ping"}'


def error_frame(message: str) -> bytes:
    """A Finnhub error frame."""
    return orjson.dumps({"msg": message, "type": "error"})
