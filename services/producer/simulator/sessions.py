"""One client connection of the simulator: its subscriptions, fault state and counters.

The server keeps one ClientSession per open WebSocket; faults (drop, silence) act on sessions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from websockets.asyncio.server import ServerConnection


@dataclass(eq=False)
class ClientSession:
    """A connected client, as the server sees it."""

    id: int
    ws: ServerConnection
    opened_at: float  # event-loop time
    subscriptions: set[str] = field(default_factory=set)
    trade_frames_sent: int = 0
    last_trade_frame: bytes | None = None
    last_trade_ts_ms: int = 0
    silenced_until: float = 0.0
    silence_started: bool = False
    dropped: bool = False

    def is_silent(self, now: float) -> bool:
        """True while a silence fault holds (nothing at all is sent, not even pings)."""
        return now < self.silenced_until

    def can_receive(self, now: float) -> bool:
        """True when frames may be sent to this client now."""
        return not self.dropped and not self.is_silent(now)

    def next_trade_ts_ms(self, now_ms: int) -> int:
        """The time to stamp the next trade frame with: now, but always after this client's previous frame,
        so no two trade frames to one client are byte-identical (the producer would drop the second)."""
        self.last_trade_ts_ms = max(now_ms, self.last_trade_ts_ms + 1)
        return self.last_trade_ts_ms

    def drop(self) -> bool:
        """Cut the TCP connection without a WebSocket close frame, after what was already sent is flushed
        (as when a server goes away). Returns False when it was already dropped."""
        if self.dropped:
            return False
        self.dropped = True
        self.ws.transport.close()
        return True
