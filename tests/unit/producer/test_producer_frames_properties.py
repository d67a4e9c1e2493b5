"""Property tests: no input makes the parser raise, and every input ends as trades, a ping, an error or
dead letters with a reason, whose records Kafka can take."""

from __future__ import annotations

import json

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from services import contracts
from services.producer.frames import (
    DeadLetterReason,
    FrameKind,
    Trade,
    ValidationRules,
    _validate_trade,
    frame_digest,
    parse_frame,
)
from services.producer.records import dead_letter_record, trade_messages

NOW_MS = 1_700_000_000_000
RULES = ValidationRules(symbols=frozenset({"AAPL", "BINANCE:BTCUSDT"}), max_frame_bytes=4096)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=5), children, max_size=5)
    ),
    max_leaves=30,
)
trade_like = st.fixed_dictionaries(
    {},
    optional={
        "s": st.sampled_from(["AAPL", "BINANCE:BTCUSDT", "MSFT", ""]) | json_values,
        "p": st.floats(allow_nan=True, allow_infinity=True) | st.integers() | json_values,
        "t": st.integers(min_value=NOW_MS - 10**12, max_value=NOW_MS + 10**12) | json_values,
        "v": st.floats(allow_nan=True, allow_infinity=True) | st.integers() | json_values,
        "c": st.lists(st.text(max_size=3), max_size=3) | json_values,
    },
)


def assert_accounted_for(frame: bytes, rules: ValidationRules = RULES) -> None:
    outcome = parse_frame(frame, NOW_MS, rules)
    if outcome.kind is FrameKind.PING:
        assert not outcome.trades and not outcome.dead_letters
    elif outcome.kind is FrameKind.ERROR:
        assert outcome.server_error is not None
    elif outcome.kind is FrameKind.INVALID:
        assert len(outcome.dead_letters) == 1 and not outcome.trades
    for dead in outcome.dead_letters:
        assert isinstance(dead.reason, DeadLetterReason)
        record = json.loads(dead_letter_record(dead, "dlq").value)
        assert len(record["raw"]) <= contracts.MAX_RAW_CHARS
    for trade, message in zip(outcome.trades, trade_messages(outcome.trades), strict=True):
        record = json.loads(message["value"])
        assert record["price"] > 0 and record["volume"] >= 0
        assert trade.symbol in rules.symbols


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=5000))
def test_arbitrary_bytes_never_raise_and_are_accounted_for(frame: bytes) -> None:
    assert_accounted_for(frame)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_arbitrary_json_never_raises_and_is_accounted_for(value: object) -> None:
    assert_accounted_for(json.dumps(value, allow_nan=True).encode())


@settings(max_examples=300, deadline=None)
@given(st.lists(trade_like | json_values, max_size=6))
def test_every_trade_of_a_frame_is_either_produced_or_dead_lettered(trades: list[object]) -> None:
    frame = json.dumps({"type": "trade", "data": trades}, allow_nan=True).encode()
    roomy = ValidationRules(symbols=RULES.symbols, max_frame_bytes=len(frame))
    outcome = parse_frame(frame, NOW_MS, roomy)
    assert outcome.kind is FrameKind.TRADE
    assert len(outcome.trades) + len(outcome.dead_letters) == len(trades)
    assert_accounted_for(frame, roomy)


@settings(deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_frames_are_accounted_for(text: str) -> None:
    assert_accounted_for(text.encode("utf-8", errors="surrogatepass"))


def test_deeply_nested_json_is_dead_lettered_not_raised() -> None:
    frame = b"[" * 100_000 + b"]" * 100_000
    outcome = parse_frame(frame, NOW_MS, ValidationRules(symbols=frozenset(), max_frame_bytes=1_000_000))
    assert [d.reason for d in outcome.dead_letters] == [DeadLetterReason.NOT_JSON]


def test_escaped_lone_surrogate_in_conditions_is_dead_lettered() -> None:
    frame = b'{"type":"trade","data":[{"s":"AAPL","p":NaN,"t":1,"v":1,"c":["\\ud800"]}]}'
    outcome = parse_frame(frame, NOW_MS, RULES)
    assert [d.reason for d in outcome.dead_letters] == [DeadLetterReason.WRONG_TYPE]
    orjson.dumps(json.loads(dead_letter_record(outcome.dead_letters[0], "dlq").value))


# --- the fast path for plainly valid frames gives what the per-trade checks give -----------------------
plain_trade = st.fixed_dictionaries(
    {
        "s": st.sampled_from(["AAPL", "BINANCE:BTCUSDT", "MSFT", ""]),
        "p": st.floats(min_value=-1, max_value=1e6) | st.integers(min_value=-1, max_value=10**20),
        "t": st.integers(min_value=NOW_MS - RULES.max_age_ms - 1, max_value=NOW_MS + RULES.max_future_ms + 1),
        "v": st.floats(min_value=-1, max_value=1e6) | st.integers(min_value=-1, max_value=10**6),
    },
    optional={"c": st.none() | st.lists(st.sampled_from(["1", "12", "é", ""]), max_size=3)},
)


def per_trade_checks(frame: bytes, rules: ValidationRules) -> tuple[list[Trade], list[tuple[str, str]]]:
    """The reference: every trade through the per-trade validator, as the slow path runs it."""
    digest = frame_digest(frame)
    trades: list[Trade] = []
    rejected: list[tuple[str, str]] = []
    for index, trade_json in enumerate(json.loads(frame)["data"]):
        result = _validate_trade(trade_json, f"{digest}-{index}", NOW_MS, rules)
        if isinstance(result, Trade):
            trades.append(result)
        else:
            rejected.append((result.reason.value, result.detail))
    return trades, rejected


@settings(max_examples=500, deadline=None)
@given(st.lists(plain_trade, max_size=8) | st.lists(plain_trade | trade_like, max_size=4))
def test_a_frame_gives_exactly_the_trades_and_reasons_of_the_per_trade_checks(trades: list[object]) -> None:
    frame = json.dumps({"type": "trade", "data": trades}, allow_nan=True).encode()
    rules = ValidationRules(symbols=RULES.symbols, max_frame_bytes=len(frame))
    outcome = parse_frame(frame, NOW_MS, rules)
    expected_trades, expected_rejections = per_trade_checks(frame, rules)
    assert outcome.trades == expected_trades
    assert [type(t.price) for t in outcome.trades] == [float] * len(expected_trades)
    assert [(d.reason.value, d.detail) for d in outcome.dead_letters] == expected_rejections


def test_a_subscribed_symbol_that_is_not_valid_text_is_still_refused() -> None:
    rules = ValidationRules(symbols=frozenset({"", "AAPL"}))
    frame = json.dumps({"type": "trade", "data": [{"s": "", "p": 1, "t": NOW_MS, "v": 1}]}).encode()
    assert [d.reason for d in parse_frame(frame, NOW_MS, rules).dead_letters] == [DeadLetterReason.WRONG_TYPE]
