"""Symbol syntax and replica sharding: which replica of the producer subscribes to which symbol.

Finnhub allows one connection per API key, so each replica runs with its own key and takes a disjoint,
stable share of SYMBOLS. The simulator uses SYMBOL_PATTERN to answer "Invalid symbol" like Finnhub does.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable
from typing import Final

SYMBOL_PATTERN: Final = re.compile(r"[A-Z0-9^][A-Z0-9 .:_/=&^-]{0,63}")
"""Shape of a symbol this project accepts: `AAPL`, `BRK.B`, `BINANCE:BTCUSDT`, `OANDA:EUR_USD`,
`IC MARKETS:1`. Upper-case only: a lower-case symbol is nearly always a typo Finnhub answers with silence."""


def is_valid_symbol(symbol: str) -> bool:
    """True when `symbol` has the shape of a Finnhub symbol (see SYMBOL_PATTERN), without edge blanks."""
    return SYMBOL_PATTERN.fullmatch(symbol) is not None and symbol == symbol.strip()


def parse_symbols(text: str) -> tuple[str, ...]:
    """Split a comma-separated SYMBOLS value into symbols, in order, without blanks or repeats.

    Raises ValueError naming the first symbol that is malformed.
    """
    symbols: list[str] = []
    for part in text.split(","):
        symbol = part.strip()
        if not symbol:
            continue
        if not is_valid_symbol(symbol):
            raise ValueError(
                f"{symbol!r} is not a symbol (expected upper-case letters, digits and . : _ / = & ^ - or"
                " blank, e.g. AAPL or BINANCE:BTCUSDT)"
            )
        if symbol not in symbols:
            symbols.append(symbol)
    if not symbols:
        raise ValueError("no symbols given (expected a comma-separated list such as AAPL,BINANCE:BTCUSDT)")
    return tuple(symbols)


def symbol_hash(symbol: str) -> int:
    """A hash of `symbol` that is the same in every process and on every machine (CRC-32 of its UTF-8)."""
    return zlib.crc32(symbol.encode("utf-8"))


def symbol_shard(symbols: Iterable[str], replica_index: int, replica_count: int) -> tuple[str, ...]:
    """The symbols that replica `replica_index` of `replica_count` subscribes to.

    Symbols are ordered by (CRC-32, symbol) and dealt round-robin, so shards are disjoint, their union is
    the whole list, their sizes differ by at most one (which keeps every key under Finnhub's per-key symbol
    limit for as long as possible), and the result does not depend on the order of SYMBOLS. The returned
    shard keeps the order the symbols had in the input.
    """
    if replica_count < 1:
        raise ValueError(f"replica_count must be >= 1, got {replica_count}")
    if not 0 <= replica_index < replica_count:
        raise ValueError(f"replica_index must be in [0, {replica_count}), got {replica_index}")
    unique = list(dict.fromkeys(symbols))
    dealt = sorted(unique, key=lambda symbol: (symbol_hash(symbol), symbol))
    mine = set(dealt[replica_index::replica_count])
    return tuple(symbol for symbol in unique if symbol in mine)
