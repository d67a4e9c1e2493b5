"""Replay a recording (the producer's PRODUCER_RECORD_FILE format) instead of generating trades.

Helpers to load the frames with the symbols each trade frame carries (to send it only to subscribers) and
optionally shift trade times so an old recording passes the producer's timestamp checks.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import orjson

from services.producer.recording import read_recording


@dataclass(frozen=True, slots=True)
class ReplayFrame:
    """A recorded frame with what routing and counting it needs, worked out once when the file is loaded
    (not per send: at full speed, parsing each frame again would cost the simulator more than sending it).
    `symbols` is None for anything but a trade frame (sent to every client)."""

    t_ms: int
    frame: bytes
    symbols: frozenset[str] | None
    trades_per_symbol: Counter[str]


def load_replay(path: Path) -> list[ReplayFrame]:
    """Every frame of the recording, in order, with its symbols and trade counts (ValueError names a bad
    line)."""
    return [
        ReplayFrame(
            recorded.t_ms, recorded.frame, trade_symbols(recorded.frame), trades_per_symbol(recorded.frame)
        )
        for recorded in read_recording(path)
    ]


def trade_symbols(frame: bytes) -> frozenset[str] | None:
    """The symbols of a trade frame; None for any other frame (ping, error, garbage), sent to everyone."""
    trades = _trades_of(frame)
    if trades is None:
        return None
    return frozenset(
        trade["s"] for trade in trades if isinstance(trade, dict) and isinstance(trade.get("s"), str)
    )


def trades_per_symbol(frame: bytes) -> Counter[str]:
    """How many trades of each symbol a frame carries (empty for anything but a trade frame)."""
    trades = _trades_of(frame) or []
    return Counter(trade.get("s", "?") if isinstance(trade, dict) else "?" for trade in trades)


def retime(frame: bytes, offset_ms: int) -> bytes:
    """The frame with every trade's `t` moved by `offset_ms`; other frames unchanged."""
    if offset_ms == 0 or _trades_of(frame) is None:
        return frame
    message = orjson.loads(frame)
    for trade in message["data"]:
        if isinstance(trade, dict) and isinstance(trade.get("t"), int) and not isinstance(trade["t"], bool):
            trade["t"] += offset_ms
    return orjson.dumps(message)


def _trades_of(frame: bytes) -> list[object] | None:
    try:
        message = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return None
    if isinstance(message, dict) and message.get("type") == "trade" and isinstance(message.get("data"), list):
        return message["data"]
    return None
