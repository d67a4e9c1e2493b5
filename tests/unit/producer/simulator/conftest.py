"""Fixtures of the simulator's unit tests: simulators on free loopback ports, and a Finnhub test client.

Helpers come as fixtures (not imports) so the tests work under any pytest import mode.
"""

from __future__ import annotations

import os
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
import websocket

from services.producer.simulator.embedded import EmbeddedSimulator
from services.producer.simulator.settings import SimulatorSettings


class FinnhubTestClient:
    """Connects to a simulator with websocket-client and reads what it sends; sockets close at teardown."""

    def __init__(self) -> None:
        self.open: list[websocket.WebSocket] = []

    def connect(self, url: str, symbols: tuple[str, ...] = (), timeout: float = 5.0) -> websocket.WebSocket:
        ws = websocket.create_connection(url, timeout=timeout)
        self.open.append(ws)
        for symbol in symbols:
            ws.send(orjson.dumps({"type": "subscribe", "symbol": symbol}).decode())
        return ws

    @staticmethod
    def receive_raw_for(ws: websocket.WebSocket, seconds: float) -> list[bytes]:
        """Every frame received within `seconds`, as bytes (stops early when the server closes)."""
        frames: list[bytes] = []
        deadline = time.monotonic() + seconds
        ws.settimeout(0.05)
        while time.monotonic() < deadline:
            try:
                opcode, frame = ws.recv_data()
            except websocket.WebSocketTimeoutException:
                continue
            except websocket.WebSocketConnectionClosedException:
                break
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                break
            frames.append(frame)
        return frames

    def receive_for(self, ws: websocket.WebSocket, seconds: float) -> list[dict[str, Any]]:
        """Every message received within `seconds`, parsed."""
        return [orjson.loads(frame) for frame in self.receive_raw_for(ws, seconds)]

    @staticmethod
    def is_closed(ws: websocket.WebSocket) -> bool:
        """True when the server has closed the connection (a read finds EOF)."""
        ws.settimeout(1.0)
        try:
            ws.recv_data()
        except (websocket.WebSocketConnectionClosedException, ConnectionError):
            return True
        except websocket.WebSocketTimeoutException:
            return False
        return False

    @staticmethod
    def control(simulator: EmbeddedSimulator, action: str) -> Any:
        url = f"http://127.0.0.1:{simulator.port}/control/{action}"
        with urllib.request.urlopen(url, timeout=5) as response:
            return orjson.loads(response.read())

    def wait_until_finished(self, simulator: EmbeddedSimulator, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stats = self.control(simulator, "stats")
            if stats["finished"]:
                return stats
            time.sleep(0.05)
        raise AssertionError(
            f"simulator did not finish within {timeout}s: {self.control(simulator, 'stats')}"
        )

    @staticmethod
    def trades_of(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [trade for message in messages if message.get("type") == "trade" for trade in message["data"]]


@pytest.fixture(autouse=True)
def no_simulator_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SIMULATOR_"):
            monkeypatch.delenv(name)


@pytest.fixture
def client() -> Iterator[FinnhubTestClient]:
    test_client = FinnhubTestClient()
    yield test_client
    for ws in test_client.open:
        ws.close(timeout=0.2)


@pytest.fixture
def start_simulator(client: FinnhubTestClient) -> Iterator[Callable[..., EmbeddedSimulator]]:
    """Start simulators with settings overrides (free port, no bursts); all stopped after the test."""
    started: list[EmbeddedSimulator] = []

    def start(**overrides: Any) -> EmbeddedSimulator:
        options: dict[str, Any] = {"simulator_port": 0, "simulator_burst_probability": 0.0}
        options.update(overrides)
        simulator = EmbeddedSimulator(SimulatorSettings(**options))
        started.append(simulator.__enter__())
        return simulator

    yield start
    for ws in client.open:
        ws.close(timeout=0.2)
    for simulator in started:
        simulator.__exit__(None, None, None)
