"""Parsing and validating Finnhub frames: the public example frames, and one test per dead-letter reason."""

from __future__ import annotations

import hashlib
import json

import orjson
import pytest

from services import contracts
from services.producer.frames import DeadLetterReason, FrameKind, ValidationRules, parse_frame

NOW_MS = 1_700_000_000_000
RULES = ValidationRules(symbols=frozenset({"AAPL", "TSLA", "BINANCE:BTCUSDT", "IC MARKETS:1"}))


def trade_frame(*trades: dict[str, object]) -> bytes:
    return json.dumps({"type": "trade", "data": list(trades)}).encode()


def good_trade(**overrides: object) -> dict[str, object]:
    trade: dict[str, object] = {"s": "AAPL", "p": 190.5, "t": NOW_MS - 1000, "v": 100, "c": ["1"]}
    trade.update(overrides)
    return trade


def only_dead_letter_reason(frame: bytes) -> DeadLetterReason:
    outcome = parse_frame(frame, NOW_MS, RULES)
    assert outcome.trades == []
    assert len(outcome.dead_letters) == 1
    return outcome.dead_letters[0].reason


def receive_soon_after(frame: bytes) -> int:
    """A receive time 500 ms after the frame's newest trade, so the public (old) frames are timely."""
    return max(trade["t"] for trade in orjson.loads(frame)["data"]) + 500


# --- the public example frames ------------------------------------------------------------------------
def test_every_public_trade_frame_yields_all_its_trades_and_no_dead_letters(
    public_frames: list[bytes],
) -> None:
    trade_frames = [frame for frame in public_frames if b'"trade"' in frame]
    assert len(trade_frames) == 3
    for frame in trade_frames:
        expected = orjson.loads(frame)["data"]
        outcome = parse_frame(frame, receive_soon_after(frame), RULES)
        assert outcome.kind is FrameKind.TRADE
        assert outcome.dead_letters == []
        got = [(t.symbol, t.price, t.volume, t.trade_ts_ms, list(t.conditions)) for t in outcome.trades]
        assert got == [(e["s"], e["p"], e["v"], e["t"], e.get("c", [])) for e in expected]


def test_same_millisecond_trades_are_all_kept_with_distinct_trade_ids(public_frames: list[bytes]) -> None:
    frame = public_frames[0]
    outcome = parse_frame(frame, receive_soon_after(frame), RULES)
    same_ms = [t for t in outcome.trades if t.symbol == "TSLA" and t.trade_ts_ms == 1672348887196]
    assert len(same_ms) == 5
    assert len({t.trade_id for t in same_ms}) == 5
    # Two of them are identical in every field but their id: both must survive.
    contents = [(t.price, t.volume, t.conditions) for t in same_ms]
    assert len(set(contents)) == 4


def test_trade_id_is_the_frame_digest_and_the_index_in_the_frame(public_frames: list[bytes]) -> None:
    frame = public_frames[0]
    digest = hashlib.blake2b(frame, digest_size=8).hexdigest()
    outcome = parse_frame(frame, receive_soon_after(frame), RULES)
    assert [t.trade_id for t in outcome.trades] == [f"{digest}-{i}" for i in range(7)]


def test_a_repeated_frame_yields_the_same_trade_ids(public_frames: list[bytes]) -> None:
    frame = public_frames[0]
    first = parse_frame(frame, receive_soon_after(frame), RULES)
    again = parse_frame(bytes(frame), receive_soon_after(frame) + 60_000, RULES)
    assert [t.trade_id for t in first.trades] == [t.trade_id for t in again.trades]


def test_fractional_volume_is_kept_exactly(public_frames: list[bytes]) -> None:
    frame = public_frames[1]
    (trade,) = parse_frame(frame, receive_soon_after(frame), RULES).trades
    assert trade.symbol == "BINANCE:BTCUSDT"
    assert trade.volume == 0.011467


def test_zero_volume_price_update_is_kept() -> None:
    outcome = parse_frame(trade_frame(good_trade(v=0)), NOW_MS, RULES)
    assert [t.volume for t in outcome.trades] == [0.0]


def test_absent_or_null_conditions_become_an_empty_list() -> None:
    absent = good_trade()
    del absent["c"]
    outcome = parse_frame(trade_frame(absent, good_trade(c=None), good_trade(c=[])), NOW_MS, RULES)
    assert [t.conditions for t in outcome.trades] == [(), (), ()]


def test_symbols_with_blanks_and_colons_are_accepted() -> None:
    outcome = parse_frame(trade_frame(good_trade(s="IC MARKETS:1")), NOW_MS, RULES)
    assert [t.symbol for t in outcome.trades] == ["IC MARKETS:1"]


def test_ping_frame_is_a_ping_with_no_records(public_frames: list[bytes]) -> None:
    outcome = parse_frame(public_frames[3], NOW_MS, RULES)
    assert outcome.kind is FrameKind.PING
    assert outcome.trades == [] and outcome.dead_letters == []


def test_error_frames_carry_the_server_message(public_frames: list[bytes]) -> None:
    messages = [parse_frame(frame, NOW_MS, RULES).server_error for frame in public_frames[4:]]
    assert messages == ["Subscribing to too many symbols", "Invalid symbol"]


def test_receive_time_is_stamped_on_every_trade() -> None:
    outcome = parse_frame(trade_frame(good_trade(), good_trade()), NOW_MS, RULES)
    assert {t.received_at_ms for t in outcome.trades} == {NOW_MS}


# --- one test per dead-letter reason -------------------------------------------------------------------
def test_not_json_is_dead_lettered_as_not_json() -> None:
    assert only_dead_letter_reason(b'{"type":"trade","data":[') is DeadLetterReason.NOT_JSON


def test_invalid_utf8_is_dead_lettered_as_not_json() -> None:
    assert only_dead_letter_reason(b'{"type":"ping\xff"}') is DeadLetterReason.NOT_JSON


def test_oversized_frame_is_dead_lettered_with_its_raw_cut_to_the_limit() -> None:
    rules = ValidationRules(symbols=RULES.symbols, max_frame_bytes=contracts.MAX_RAW_CHARS * 2)
    frame = trade_frame(*[good_trade() for _ in range(3000)])
    assert len(frame) > rules.max_frame_bytes
    outcome = parse_frame(frame, NOW_MS, rules)
    (dead,) = outcome.dead_letters
    assert dead.reason is DeadLetterReason.OVERSIZED_FRAME
    assert dead.raw == frame[: contracts.MAX_RAW_CHARS].decode()


def test_message_of_unknown_type_is_dead_lettered_as_unexpected() -> None:
    assert only_dead_letter_reason(b'{"type":"news","data":[]}') is DeadLetterReason.UNEXPECTED_MESSAGE


def test_json_that_is_not_an_object_is_dead_lettered_as_unexpected() -> None:
    assert only_dead_letter_reason(b"[1,2,3]") is DeadLetterReason.UNEXPECTED_MESSAGE


def test_trade_without_price_is_dead_lettered_as_missing_field() -> None:
    trade = good_trade()
    del trade["p"]
    assert only_dead_letter_reason(trade_frame(trade)) is DeadLetterReason.MISSING_FIELD


def test_trade_frame_without_data_is_dead_lettered_as_missing_field() -> None:
    assert only_dead_letter_reason(b'{"type":"trade"}') is DeadLetterReason.MISSING_FIELD


@pytest.mark.parametrize(
    "bad",
    [{"p": "190.5"}, {"v": True}, {"t": 1.7e12}, {"s": 42}, {"c": "1"}, {"c": [1]}],
    ids=["price-string", "volume-bool", "time-float", "symbol-number", "conditions-string", "condition-int"],
)
def test_trade_with_a_field_of_the_wrong_type_is_dead_lettered_as_wrong_type(bad: dict[str, object]) -> None:
    assert only_dead_letter_reason(trade_frame(good_trade(**bad))) is DeadLetterReason.WRONG_TYPE


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e999"])
def test_non_finite_price_is_dead_lettered_as_non_finite(number: bytes) -> None:
    frame = b'{"type":"trade","data":[{"s":"AAPL","p":' + number + b',"t":%d,"v":1}]}' % (NOW_MS - 1000)
    assert only_dead_letter_reason(frame) is DeadLetterReason.NON_FINITE


@pytest.mark.parametrize("price", [0, -1.5])
def test_zero_or_negative_price_is_dead_lettered_as_non_positive_price(price: float) -> None:
    assert only_dead_letter_reason(trade_frame(good_trade(p=price))) is DeadLetterReason.NON_POSITIVE_PRICE


def test_negative_volume_is_dead_lettered_as_negative_volume() -> None:
    assert only_dead_letter_reason(trade_frame(good_trade(v=-0.5))) is DeadLetterReason.NEGATIVE_VOLUME


def test_trade_beyond_the_future_bound_is_dead_lettered_as_in_future() -> None:
    late = good_trade(t=NOW_MS + RULES.max_future_ms + 1)
    assert only_dead_letter_reason(trade_frame(late)) is DeadLetterReason.TIMESTAMP_IN_FUTURE
    just_inside = good_trade(t=NOW_MS + RULES.max_future_ms)
    assert len(parse_frame(trade_frame(just_inside), NOW_MS, RULES).trades) == 1


def test_trade_beyond_the_age_bound_is_dead_lettered_as_too_old() -> None:
    old = good_trade(t=NOW_MS - RULES.max_age_ms - 1)
    assert only_dead_letter_reason(trade_frame(old)) is DeadLetterReason.TIMESTAMP_TOO_OLD


def test_time_bounds_are_configurable() -> None:
    strict = ValidationRules(symbols=RULES.symbols, max_future_ms=0, max_age_ms=10)
    outcome = parse_frame(trade_frame(good_trade(t=NOW_MS - 11), good_trade(t=NOW_MS + 1)), NOW_MS, strict)
    reasons = [d.reason for d in outcome.dead_letters]
    assert reasons == [DeadLetterReason.TIMESTAMP_TOO_OLD, DeadLetterReason.TIMESTAMP_IN_FUTURE]


def test_trade_of_an_unsubscribed_symbol_is_dead_lettered_as_unknown_symbol() -> None:
    assert only_dead_letter_reason(trade_frame(good_trade(s="MSFT"))) is DeadLetterReason.UNKNOWN_SYMBOL


# --- per-trade isolation -------------------------------------------------------------------------------
def test_one_bad_trade_is_dead_lettered_alone_and_the_good_ones_pass() -> None:
    bad = good_trade(p=-1)
    frame = trade_frame(good_trade(v=1), bad, good_trade(v=3))
    outcome = parse_frame(frame, NOW_MS, RULES)
    assert [t.volume for t in outcome.trades] == [1.0, 3.0]
    (dead,) = outcome.dead_letters
    assert json.loads(dead.raw) == bad
    assert dead.symbol == "AAPL"
    assert dead.detail.startswith(f"{outcome.digest}-1:")
    # The good trades keep their own positions in the frame as ids.
    assert [t.trade_id for t in outcome.trades] == [f"{outcome.digest}-0", f"{outcome.digest}-2"]


def test_nan_in_one_trade_does_not_lose_the_others_of_its_frame() -> None:
    frame = b'{"type":"trade","data":[{"s":"AAPL","p":NaN,"t":%d,"v":1},{"s":"AAPL","p":2,"t":%d,"v":1}]}' % (
        NOW_MS,
        NOW_MS,
    )
    outcome = parse_frame(frame, NOW_MS, RULES)
    assert [t.price for t in outcome.trades] == [2.0]
    assert [d.reason for d in outcome.dead_letters] == [DeadLetterReason.NON_FINITE]


def test_a_rejected_trade_keeps_integers_beyond_64_bits_exactly_in_its_raw_text() -> None:
    # orjson reads such an integer as a float; the dead letter must still hold what the server sent.
    frame = b'{"type":"trade","data":[{"s":-9223372036854775809,"p":1.5,"t":1700000000000,"v":1}]}'
    (dead,) = parse_frame(frame, NOW_MS, RULES).dead_letters
    assert dead.reason is DeadLetterReason.WRONG_TYPE
    assert dead.raw == '{"s":-9223372036854775809,"p":1.5,"t":1700000000000,"v":1}'
