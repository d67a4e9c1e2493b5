"""Repeated frames: a byte-identical trade frame within the window is produced once."""

from __future__ import annotations

import json

from services.producer.dedupe import FrameDeduplicator
from services.producer.frames import ValidationRules
from services.producer.pipeline import FrameProcessor

NOW_MS = 1_700_000_000_000
FRAME = json.dumps({"type": "trade", "data": [{"s": "AAPL", "p": 1.5, "t": NOW_MS, "v": 1}]}).encode()


def processor(window_seconds: float = 60, max_frames: int = 100) -> FrameProcessor:
    rules = ValidationRules(symbols=frozenset({"AAPL"}))
    return FrameProcessor(rules, FrameDeduplicator(window_seconds, max_frames), "trades", "dlq")


def test_identical_frame_within_the_window_is_a_duplicate() -> None:
    dedupe = FrameDeduplicator(window_seconds=10, max_frames=100)
    assert dedupe.is_duplicate("a", now_s=100.0) is False
    assert dedupe.is_duplicate("a", now_s=109.9) is True


def test_identical_frame_after_the_window_is_not_a_duplicate() -> None:
    dedupe = FrameDeduplicator(window_seconds=10, max_frames=100)
    dedupe.is_duplicate("a", now_s=100.0)
    assert dedupe.is_duplicate("a", now_s=110.1) is False


def test_oldest_frames_are_forgotten_beyond_the_count_bound() -> None:
    dedupe = FrameDeduplicator(window_seconds=1000, max_frames=3)
    for digest in "abcd":
        dedupe.is_duplicate(digest, now_s=1.0)
    assert len(dedupe) == 3
    assert dedupe.is_duplicate("a", now_s=2.0) is False  # "a" was evicted by "d"
    assert dedupe.is_duplicate("d", now_s=2.0) is True


def test_a_zero_window_turns_dedupe_off() -> None:
    dedupe = FrameDeduplicator(window_seconds=0, max_frames=100)
    dedupe.is_duplicate("a", now_s=1.0)
    assert dedupe.is_duplicate("a", now_s=1.0) is False


def test_a_repeated_trade_frame_is_produced_once() -> None:
    frames = processor()
    first = frames.process(FRAME, NOW_MS, now_s=1.0)
    second = frames.process(FRAME, NOW_MS + 5, now_s=2.0)
    assert len(first.trade_messages) + len(first.dead_letter_records) == 1 and not first.duplicate
    assert second.duplicate and second.trade_messages == [] and second.dead_letter_records == []


def test_a_different_trade_frame_is_not_a_duplicate() -> None:
    frames = processor()
    frames.process(FRAME, NOW_MS, now_s=1.0)
    other = FRAME.replace(b'"v": 1', b'"v": 2')
    assert frames.process(other, NOW_MS, now_s=1.5).duplicate is False


def test_repeated_pings_and_errors_are_never_duplicates() -> None:
    frames = processor()
    for now_s in (1.0, 2.0):
        assert frames.process(b'{"type":"ping"}', NOW_MS, now_s).duplicate is False
        assert frames.process(b'{"type":"error","msg":"Invalid symbol"}', NOW_MS, now_s).duplicate is False
