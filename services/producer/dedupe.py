"""Remember recently seen trade frames so a frame the server repeats is not produced twice.

Pure (the caller passes the clock): a frame is a duplicate when a byte-identical one (same digest) was seen
less than `window_seconds` ago, among at most `max_frames` remembered frames.
"""

from __future__ import annotations

from collections import OrderedDict


class FrameDeduplicator:
    """A bounded, time-windowed set of frame digests."""

    def __init__(self, window_seconds: float, max_frames: int) -> None:
        if window_seconds < 0 or max_frames < 0:
            raise ValueError("window_seconds and max_frames must be >= 0")
        self.window_seconds = window_seconds
        self.max_frames = max_frames
        self._seen: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def is_duplicate(self, digest: str, now_s: float) -> bool:
        """True when `digest` was seen within the window; otherwise remember it (as of `now_s`)."""
        self._expire(now_s)
        if digest in self._seen:
            return True
        if self.max_frames and self.window_seconds:
            self._seen[digest] = now_s
            while len(self._seen) > self.max_frames:
                self._seen.popitem(last=False)
        return False

    def _expire(self, now_s: float) -> None:
        horizon = now_s - self.window_seconds
        while self._seen:
            oldest_digest, seen_at = next(iter(self._seen.items()))
            if seen_at > horizon:
                break
            del self._seen[oldest_digest]
