"""Reconnect delays: exponential backoff with full jitter (delay drawn uniformly from [0, cap]).

Full jitter spreads the reconnects of many replicas after a Finnhub outage instead of having them all
knock at once. Pure apart from the random source, which tests replace.
"""

from __future__ import annotations

import random


class FullJitterBackoff:
    """The n-th consecutive failure waits uniform(0, min(max_seconds, initial_seconds * 2**n))."""

    def __init__(self, initial_seconds: float, max_seconds: float, rng: random.Random | None = None) -> None:
        if initial_seconds <= 0 or max_seconds < initial_seconds:
            raise ValueError("need 0 < initial_seconds <= max_seconds")
        self.initial_seconds = initial_seconds
        self.max_seconds = max_seconds
        self.attempt = 0
        self._rng = rng or random.Random()

    def ceiling(self, attempt: int) -> float:
        """The largest delay the `attempt`-th consecutive failure (from 0) may wait."""
        # Cap the exponent: 2**attempt overflows a float long before anyone waits that long.
        return min(self.max_seconds, self.initial_seconds * 2 ** min(attempt, 64))

    def next_delay(self) -> float:
        """The delay before the next attempt; each call counts one more consecutive failure."""
        delay = self._rng.uniform(0, self.ceiling(self.attempt))
        self.attempt += 1
        return delay

    def reset(self) -> None:
        """Start again from the initial ceiling (after a connection that stayed healthy)."""
        self.attempt = 0
