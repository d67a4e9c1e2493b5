"""Parse and validate one Finnhub server frame: bytes in, typed trades and dead letters out.

This is the pure core of the producer (no I/O, no clock): the service loop hands it each frame with the
time it arrived, and turns the outcome into Kafka records (records.py) and metrics.

Longer than most modules (~340 lines) on purpose: the one-pass fast path for plainly valid frames must sit
beside the per-trade validator it has to agree with (a property test holds them equal), over one set of
rules and dead-letter reasons.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, NamedTuple

import orjson

from services import contracts


class DeadLetterReason(StrEnum):
    """Why the producer rejected a frame or a trade; the `reason` field of a dead-letter record."""

    NOT_JSON = "not_json"
    OVERSIZED_FRAME = "oversized_frame"
    UNEXPECTED_MESSAGE = "unexpected_message"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    NON_FINITE = "non_finite"
    NON_POSITIVE_PRICE = "non_positive_price"
    NEGATIVE_VOLUME = "negative_volume"
    TIMESTAMP_IN_FUTURE = "timestamp_in_future"
    TIMESTAMP_TOO_OLD = "timestamp_too_old"
    UNKNOWN_SYMBOL = "unknown_symbol"


class FrameKind(StrEnum):
    """What a frame turned out to be (the `type` label of finnhub_messages_received_total)."""

    TRADE = "trade"
    PING = "ping"
    ERROR = "error"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class ValidationRules:
    """What the producer accepts; built once from the settings."""

    symbols: frozenset[str]
    max_frame_bytes: int = 1_048_576
    max_future_ms: int = 300_000
    max_age_ms: int = 7 * 24 * 3600 * 1000
    # The subscribed symbols that pass the symbol checks themselves (non-empty, encodable): the fast path's
    # one set lookup then stands for all three checks.
    plain_symbols: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        plain = frozenset(symbol for symbol in self.symbols if symbol and _is_text(symbol))
        object.__setattr__(self, "plain_symbols", plain)


class Trade(NamedTuple):
    """One valid trade, ready to become a Kafka record (a NamedTuple: built for every trade, cheaply)."""

    trade_id: str
    symbol: str
    price: float
    volume: float
    trade_ts_ms: int
    conditions: tuple[str, ...]
    received_at_ms: int


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Input the producer rejected, with its reason; `symbol` is set when a rejected trade named one."""

    reason: DeadLetterReason
    detail: str
    raw: str
    received_at_ms: int
    symbol: str | None = None


@dataclass(slots=True)
class FrameOutcome:
    """Everything one frame yielded. `digest` identifies the frame's bytes (trade ids and dedupe use it)."""

    kind: FrameKind
    digest: str
    trades: list[Trade] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    server_error: str | None = None


def frame_digest(frame: bytes) -> str:
    """A short, stable digest of a frame's bytes: 16 hex characters of BLAKE2b."""
    return hashlib.blake2b(frame, digest_size=8).hexdigest()


def raw_text(frame: bytes) -> str:
    """The frame as text for a dead letter: UTF-8 with invalid bytes replaced, cut to MAX_RAW_CHARS."""
    return frame[: contracts.MAX_RAW_CHARS * 4].decode("utf-8", errors="replace")[: contracts.MAX_RAW_CHARS]


def parse_frame(frame: bytes, received_at_ms: int, rules: ValidationRules) -> FrameOutcome:
    """Turn one server frame into trades, a ping, a server error, or dead letters. Never raises."""
    digest = frame_digest(frame)
    if len(frame) > rules.max_frame_bytes:
        detail = f"frame is {len(frame)} bytes, limit is {rules.max_frame_bytes}"
        return _invalid(digest, DeadLetterReason.OVERSIZED_FRAME, detail, frame, received_at_ms)
    try:
        message = _loads(frame)
    except (ValueError, RecursionError) as exc:
        detail = f"not JSON: {str(exc)[:200]}"
        return _invalid(digest, DeadLetterReason.NOT_JSON, detail, frame, received_at_ms)

    message_type = message.get("type") if isinstance(message, dict) else None
    if message_type == "ping":
        return FrameOutcome(FrameKind.PING, digest)
    if message_type == "error":
        text = message.get("msg")
        return FrameOutcome(
            FrameKind.ERROR, digest, server_error=text if isinstance(text, str) else repr(text)
        )
    if message_type != "trade":
        detail = f"expected a JSON object with type trade, ping or error, got {_describe(message)}"
        return _invalid(digest, DeadLetterReason.UNEXPECTED_MESSAGE, detail, frame, received_at_ms)
    if "data" not in message:
        return _invalid(
            digest, DeadLetterReason.MISSING_FIELD, "trade frame has no data", frame, received_at_ms
        )
    trades_json = message["data"]
    if not isinstance(trades_json, list):
        detail = f"trade frame data is {type(trades_json).__name__}, expected a list"
        return _invalid(digest, DeadLetterReason.WRONG_TYPE, detail, frame, received_at_ms)

    plain = _plain_trades(trades_json, digest, received_at_ms, rules)
    if plain is not None:
        return FrameOutcome(FrameKind.TRADE, digest, plain)
    # Something in the frame is off: check each trade on its own, so the reason and the trade are exact.
    outcome = FrameOutcome(FrameKind.TRADE, digest)
    rejected: list[int] = []
    for index, trade_json in enumerate(trades_json):
        trade_id = f"{digest}-{index}"
        result = _validate_trade(trade_json, trade_id, received_at_ms, rules)
        if isinstance(result, Trade):
            outcome.trades.append(result)
        else:
            outcome.dead_letters.append(result)
            rejected.append(index)
    if rejected:
        # orjson reads an integer beyond 64 bits as a float; a rejected trade's raw text comes from the exact
        # standard parser instead (a rare path), so the dead letter holds what Finnhub sent.
        exact = json.loads(frame.decode("utf-8"))["data"]
        outcome.dead_letters = [
            replace(dead, raw=_trade_raw(exact[index]))
            for dead, index in zip(outcome.dead_letters, rejected, strict=True)
        ]
    return outcome


def _loads(frame: bytes) -> Any:
    try:
        return orjson.loads(frame)
    except orjson.JSONDecodeError:
        # orjson rejects NaN, Infinity and numbers that overflow to infinity; the standard parser reads them,
        # so one such trade dead-letters alone instead of taking its frame's good trades with it.
        return json.loads(frame.decode("utf-8"))


def _invalid(
    digest: str, reason: DeadLetterReason, detail: str, frame: bytes, received_at_ms: int
) -> FrameOutcome:
    dead_letter = DeadLetter(reason, detail, raw_text(frame), received_at_ms)
    return FrameOutcome(FrameKind.INVALID, digest, dead_letters=[dead_letter])


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return f"an object with type {str(value.get('type'))[:80]!r}"
    return f"a JSON {type(value).__name__}"


def _trade_raw(trade_json: Any) -> str:
    # ensure_ascii keeps lone surrogates and NaN printable and encodable downstream.
    text = json.dumps(trade_json, ensure_ascii=True, allow_nan=True, separators=(",", ":"))
    return text[: contracts.MAX_RAW_CHARS]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_text(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from an escaped \udXXX
        return False
    return True


_INFINITY = math.inf
_new_trade = tuple.__new__  # Trade's own constructor, without NamedTuple's keyword handling


def _plain_trades(
    trades_json: list[Any], digest: str, received_at_ms: int, rules: ValidationRules
) -> list[Trade] | None:
    """Every trade of the frame, when each one is plainly valid; None as soon as one is not.

    The common case, checked in one pass with as few operations as the rules allow. It accepts exactly the
    trades `_validate_trade` accepts and builds the same Trade; anything else (a rejected trade, or a valid
    one it cannot vouch for cheaply, such as non-ASCII conditions) sends the whole frame to that slower
    path, which also names the reasons.
    """
    oldest, newest = received_at_ms - rules.max_age_ms, received_at_ms + rules.max_future_ms
    symbols = rules.plain_symbols
    trades: list[Trade] = []
    append = trades.append
    try:
        for index, trade_json in enumerate(trades_json):
            if type(trade_json) is not dict:
                return None
            symbol, price = trade_json["s"], trade_json["p"]
            trade_ts_ms, volume = trade_json["t"], trade_json["v"]
            conditions = trade_json.get("c")
            price_type, volume_type = type(price), type(volume)
            # Exact type tests exclude bool (and None); chained comparisons reject NaN and infinities as
            # well as out-of-range values.
            if not (
                (price_type is float or price_type is int)
                and (volume_type is float or volume_type is int)
                and type(trade_ts_ms) is int
                and 0 < price < _INFINITY
                and 0 <= volume < _INFINITY
                and oldest <= trade_ts_ms <= newest
                and symbol in symbols  # only strings are in it (an unhashable symbol raises TypeError)
            ):
                return None
            if conditions is None:
                conditions = ()
            elif type(conditions) is list and (not conditions or "".join(conditions).isascii()):
                conditions = tuple(conditions)
            else:
                return None
            append(
                _new_trade(
                    Trade,
                    (
                        f"{digest}-{index}",
                        symbol,
                        float(price),
                        float(volume),
                        trade_ts_ms,
                        conditions,
                        received_at_ms,
                    ),
                )
            )
    except (KeyError, TypeError, OverflowError):  # a missing field; a non-string condition; a huge integer
        return None
    return trades


def _validate_trade(
    trade_json: Any, trade_id: str, received_at_ms: int, rules: ValidationRules
) -> Trade | DeadLetter:
    # The checks run on every trade: exact type tests and one encode per trade keep them cheap.
    if type(trade_json) is not dict:
        detail = f"trade is a JSON {type(trade_json).__name__}, expected an object"
        return _reject(DeadLetterReason.WRONG_TYPE, detail, trade_json, trade_id, received_at_ms)
    try:
        symbol, price, trade_ts_ms, volume = (
            trade_json["s"],
            trade_json["p"],
            trade_json["t"],
            trade_json["v"],
        )
    except KeyError:
        missing = ", ".join(name for name in ("s", "p", "t", "v") if name not in trade_json)
        return _reject(
            DeadLetterReason.MISSING_FIELD, f"missing {missing}", trade_json, trade_id, received_at_ms
        )
    if type(symbol) is not str or not symbol or not _is_text(symbol):
        detail = "s must be a non-empty string"
        return _reject(DeadLetterReason.WRONG_TYPE, detail, trade_json, trade_id, received_at_ms)
    for name, value in (("p", price), ("v", volume)):
        if not _is_number(value):
            detail = f"{name} must be a number, got {type(value).__name__}"
            return _reject(DeadLetterReason.WRONG_TYPE, detail, trade_json, trade_id, received_at_ms)
    if type(trade_ts_ms) is not int:
        detail = f"t must be an integer, got {type(trade_ts_ms).__name__}"
        return _reject(DeadLetterReason.WRONG_TYPE, detail, trade_json, trade_id, received_at_ms)
    conditions = trade_json.get("c")
    if conditions is None:
        conditions = []
    if type(conditions) is not list or (conditions and not _are_texts(conditions)):
        detail = "c must be a list of strings"
        return _reject(DeadLetterReason.WRONG_TYPE, detail, trade_json, trade_id, received_at_ms)
    try:
        price, volume = float(price), float(volume)
    except OverflowError:
        detail = "p or v overflows a double"
        return _reject(DeadLetterReason.NON_FINITE, detail, trade_json, trade_id, received_at_ms)
    problem: tuple[DeadLetterReason, str] | None = None
    if not (math.isfinite(price) and math.isfinite(volume)):
        problem = DeadLetterReason.NON_FINITE, f"p={price} v={volume}"
    elif price <= 0:
        problem = DeadLetterReason.NON_POSITIVE_PRICE, f"p={price}"
    elif volume < 0:
        problem = DeadLetterReason.NEGATIVE_VOLUME, f"v={volume}"
    elif trade_ts_ms > received_at_ms + rules.max_future_ms:
        ahead_s = (trade_ts_ms - received_at_ms) / 1000
        problem = DeadLetterReason.TIMESTAMP_IN_FUTURE, f"t={trade_ts_ms} is {ahead_s:.0f}s ahead of receipt"
    elif trade_ts_ms < received_at_ms - rules.max_age_ms:
        age_s = (received_at_ms - trade_ts_ms) / 1000
        problem = DeadLetterReason.TIMESTAMP_TOO_OLD, f"t={trade_ts_ms} is {age_s:.0f}s older than receipt"
    elif symbol not in rules.symbols:
        problem = DeadLetterReason.UNKNOWN_SYMBOL, f"s={symbol[:80]!r} is not subscribed by this replica"
    if problem is not None:
        return _reject(*problem, trade_json, trade_id, received_at_ms)
    return Trade(trade_id, symbol, price, volume, trade_ts_ms, tuple(conditions), received_at_ms)


def _reject(
    reason: DeadLetterReason, detail: str, trade_json: Any, trade_id: str, received_at_ms: int
) -> DeadLetter:
    """A rejected trade's dead letter; keyed by its symbol when it named a valid one."""
    symbol = trade_json.get("s") if isinstance(trade_json, dict) else None
    known_symbol = symbol if isinstance(symbol, str) and _is_text(symbol) else None
    return DeadLetter(reason, f"{trade_id}: {detail}", _trade_raw(trade_json), received_at_ms, known_symbol)


def _are_texts(values: list[Any]) -> bool:
    """Every value is a string encodable as UTF-8 (one join and one encode, not one per value)."""
    try:
        "".join(values).encode("utf-8")
    except (TypeError, UnicodeEncodeError):
        return False
    return True
