"""Waiting for a condition of a real service: polled until true, failing with the last reason it was not."""

from __future__ import annotations

import time
from collections.abc import Callable


def eventually(
    check: Callable[[], object], timeout_s: float, interval_s: float = 1.0, what: str = ""
) -> object:
    """Calls `check` until it returns a truthy value or `timeout_s` passes; the last error says why."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # the condition is not met yet; remember why for the failure message
            last_error = exc
        time.sleep(interval_s)
    raise AssertionError(f"not true within {timeout_s:.0f} s: {what} (last error: {last_error})")
