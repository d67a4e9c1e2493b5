"""The simulator speaks Finnhub's protocol on a real loopback socket: token, subscriptions, pings, limits."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from typing import Any

import pytest
import websocket

from services.producer.simulator.server import SimulatorLoopFailed, SimulatorServer
from services.producer.simulator.settings import SimulatorSettings

StartSimulator = Any  # the conftest fixture: start_simulator(**settings) -> EmbeddedSimulator
Client = Any  # the conftest FinnhubTestClient


def test_a_subscriber_receives_trades_only_for_its_symbols(
    start_simulator: StartSimulator, client: Client
) -> None:
    simulator = start_simulator(simulator_rate=500)
    other = client.connect(simulator.url, ("MSFT",))
    ws = client.connect(simulator.url, ("AAPL", "BINANCE:BTCUSDT"))
    trades = client.trades_of(client.receive_for(ws, 0.6))
    assert len(trades) > 20
    assert {t["s"] for t in trades} == {"AAPL", "BINANCE:BTCUSDT"}
    assert {t["s"] for t in client.trades_of(client.receive_for(other, 0.3))} == {"MSFT"}


def test_pings_arrive_at_the_configured_interval(start_simulator: StartSimulator, client: Client) -> None:
    simulator = start_simulator(simulator_ping_seconds=0.2, simulator_rate=0)
    messages = client.receive_for(client.connect(simulator.url), 0.9)
    assert 2 <= messages.count({"type": "ping"}) <= 5


@pytest.mark.parametrize("query", ["?token=wrong", ""])
def test_a_wrong_or_missing_token_is_refused_with_http_401(
    start_simulator: StartSimulator, client: Client, query: str
) -> None:
    simulator = start_simulator(simulator_token="right-token")
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(simulator.url + query, timeout=5)
    assert refused.value.status_code == 401


def test_the_right_token_is_accepted(start_simulator: StartSimulator, client: Client) -> None:
    simulator = start_simulator(simulator_token="right-token", simulator_rate=200)
    ws = client.connect(simulator.url + "?token=right-token", ("AAPL",))
    assert client.trades_of(client.receive_for(ws, 0.4))


def test_subscribing_past_the_limit_is_answered_with_finnhubs_error(
    start_simulator: StartSimulator, client: Client
) -> None:
    simulator = start_simulator(simulator_symbol_limit=2, simulator_rate=0)
    ws = client.connect(simulator.url, ("AAPL", "MSFT", "TSLA"))
    assert client.receive_for(ws, 0.3) == [{"msg": "Subscribing to too many symbols", "type": "error"}]
    stats = client.control(simulator, "stats")
    assert stats["connections"][0]["subscriptions"] == ["AAPL", "MSFT"]


def test_a_malformed_symbol_is_answered_with_invalid_symbol(
    start_simulator: StartSimulator, client: Client
) -> None:
    simulator = start_simulator(simulator_rate=0)
    ws = client.connect(simulator.url, ("not a symbol", ""))
    assert client.receive_for(ws, 0.3) == [{"msg": "Invalid symbol", "type": "error"}] * 2


def test_unsubscribing_stops_that_symbols_trades(start_simulator: StartSimulator, client: Client) -> None:
    simulator = start_simulator(simulator_rate=500)
    ws = client.connect(simulator.url, ("AAPL", "MSFT"))
    client.receive_for(ws, 0.2)
    ws.send('{"type":"unsubscribe","symbol":"AAPL"}')
    client.receive_for(ws, 0.3)  # frames already in flight
    assert {t["s"] for t in client.trades_of(client.receive_for(ws, 0.4))} == {"MSFT"}


def test_the_health_endpoint_answers_and_unknown_control_actions_are_404(
    start_simulator: StartSimulator, client: Client
) -> None:
    simulator = start_simulator()
    with urllib.request.urlopen(f"http://127.0.0.1:{simulator.port}/healthz", timeout=5) as response:
        assert response.read() == b"ok\n"
    with pytest.raises(urllib.error.HTTPError) as missing:
        client.control(simulator, "explode")
    missing.value.close()
    assert missing.value.code == 404


def test_a_market_loop_that_fails_stops_the_server_with_its_error(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Not a healthy-looking server that answers pings and sends no trade: its process exits, is restarted."""
    server = SimulatorServer(SimulatorSettings(simulator_port=0))

    async def broken() -> None:
        raise RuntimeError("tape torn")

    monkeypatch.setattr(server, "_market_loop", broken)

    with pytest.raises(SimulatorLoopFailed, match="the market loop failed: RuntimeError"):
        asyncio.run(asyncio.wait_for(server.serve(asyncio.Event()), timeout=10))
    assert "event=simulator_loop_failed loop=market" in caplog.text
