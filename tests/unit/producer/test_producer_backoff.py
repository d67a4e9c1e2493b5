"""Reconnect backoff: exponential ceilings, full jitter below them, reset after a healthy connection."""

from __future__ import annotations

import random

import pytest

from services.producer.backoff import FullJitterBackoff


def test_ceilings_double_from_the_initial_delay_up_to_the_maximum() -> None:
    backoff = FullJitterBackoff(initial_seconds=0.5, max_seconds=5)
    assert [backoff.ceiling(n) for n in range(6)] == [0.5, 1, 2, 4, 5, 5]


def test_every_delay_lies_between_zero_and_its_ceiling() -> None:
    backoff = FullJitterBackoff(initial_seconds=1, max_seconds=30, rng=random.Random(7))
    for attempt in range(200):
        delay = backoff.next_delay()
        assert 0 <= delay <= min(30, 2**attempt)


def test_jitter_spreads_delays_over_the_whole_range() -> None:
    delays = []
    for seed in range(500):
        backoff = FullJitterBackoff(initial_seconds=1, max_seconds=60, rng=random.Random(seed))
        backoff.attempt = 10  # ceiling 60
        delays.append(backoff.next_delay())
    assert min(delays) < 3 and max(delays) > 57


def test_reset_starts_again_from_the_initial_ceiling() -> None:
    backoff = FullJitterBackoff(initial_seconds=1, max_seconds=60, rng=random.Random(1))
    for _ in range(8):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() <= 1


def test_a_very_long_outage_does_not_overflow() -> None:
    backoff = FullJitterBackoff(initial_seconds=1, max_seconds=60)
    backoff.attempt = 10_000
    assert 0 <= backoff.next_delay() <= 60


@pytest.mark.parametrize(("initial", "maximum"), [(0, 1), (2, 1)])
def test_nonsense_bounds_are_refused(initial: float, maximum: float) -> None:
    with pytest.raises(ValueError):
        FullJitterBackoff(initial, maximum)
