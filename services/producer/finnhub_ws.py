"""The Finnhub WebSocket protocol on the client side: the URL with its token, subscriptions, raw frames.

The token is added only to the URL handed to websocket-client; everything that is logged uses
`redacted_url`. Frames are returned as raw bytes so the parser sees exactly what the server sent.
"""

from __future__ import annotations

from urllib.parse import quote

import orjson
import websocket

from services.producer.logs import REDACTED


class ServerClosed(Exception):
    """The server ended the connection (close frame, EOF or reset)."""


def connect_url(base_url: str, api_key: str | None) -> str:
    """The URL to open: `base_url` plus `token=<key>` when there is a key. Never log it."""
    if not api_key:
        return base_url
    separator = "&" if "?" in base_url else "?"
    return f"{base_url}{separator}token={quote(api_key, safe='')}"


def redacted_url(base_url: str, api_key: str | None) -> str:
    """The URL as it may appear in logs: the token replaced by ***."""
    if not api_key:
        return base_url
    separator = "&" if "?" in base_url else "?"
    return f"{base_url}{separator}token={REDACTED}"


def subscribe_message(symbol: str) -> str:
    """The client message that subscribes to one symbol."""
    return orjson.dumps({"type": "subscribe", "symbol": symbol}).decode("utf-8")


class FinnhubConnection:
    """One open WebSocket to Finnhub (or the simulator)."""

    def __init__(self, url: str, connect_timeout: float, receive_timeout: float) -> None:
        # skip_utf8_validation: a frame that is not UTF-8 reaches the parser, which dead-letters it.
        self._socket = websocket.create_connection(url, timeout=connect_timeout, skip_utf8_validation=True)
        self._socket.settimeout(receive_timeout)

    def subscribe(self, symbols: tuple[str, ...]) -> None:
        """Subscribe to each symbol, one message per symbol as Finnhub requires."""
        for symbol in symbols:
            self._socket.send(subscribe_message(symbol))

    def receive(self) -> bytes | None:
        """The next text or binary frame's bytes; None when nothing arrived within the receive timeout.

        Raises ServerClosed when the server closed the connection, websocket or OS errors otherwise.
        """
        try:
            opcode, data = self._socket.recv_data()
        except websocket.WebSocketTimeoutException:
            return None
        except websocket.WebSocketConnectionClosedException as exc:
            raise ServerClosed(str(exc) or "connection closed") from None
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            raise ServerClosed("close frame")
        return data if isinstance(data, bytes) else str(data).encode("utf-8")

    def close(self) -> None:
        """Close the connection, tolerating one the server already dropped."""
        try:
            self._socket.close(timeout=1)
        except (OSError, websocket.WebSocketException):
            self._socket.shutdown()
