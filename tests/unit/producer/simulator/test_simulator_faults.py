"""Finite runs, the global trade sequence across drops, the sent log, and fault injection."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from services.producer.frames import DeadLetterReason, ValidationRules, parse_frame
from services.producer.recording import read_recording
from services.producer.simulator.market import SymbolTape

StartSimulator = Any  # the conftest fixture: start_simulator(**settings) -> EmbeddedSimulator
Client = Any  # the conftest FinnhubTestClient
SYMBOLS = ("AAPL", "BINANCE:BTCUSDT", "OANDA:EUR_USD")


def without_time(trade: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in trade.items() if key != "t"}


def by_symbol(trades: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for trade in trades:
        grouped[trade["s"]].append(without_time(trade))
    return grouped


def tape(seed: int, symbol: str, count: int) -> list[dict[str, Any]]:
    return [without_time(trade.to_json(0)) for trade in SymbolTape(seed, symbol).take(count)]


def test_a_finite_run_sends_exactly_n_trades_then_only_pings(
    start_simulator: StartSimulator, client: Client
) -> None:
    simulator = start_simulator(simulator_max_trades=300, simulator_rate=3000, simulator_ping_seconds=0.1)
    ws = client.connect(simulator.url, SYMBOLS)
    stats = client.wait_until_finished(simulator)
    messages = client.receive_for(ws, 0.5)
    assert len(client.trades_of(messages)) == stats["trades_sent"] == 300
    assert messages[-1] == {"type": "ping"}


def test_what_was_sent_can_be_regenerated_from_the_seed(
    start_simulator: StartSimulator, client: Client
) -> None:
    simulator = start_simulator(simulator_max_trades=300, simulator_rate=3000, simulator_seed=42)
    ws = client.connect(simulator.url, SYMBOLS)
    stats = client.wait_until_finished(simulator)
    received = by_symbol(client.trades_of(client.receive_for(ws, 0.3)))
    for symbol in SYMBOLS:
        count = stats["per_symbol"][symbol]
        assert received[symbol] == tape(42, symbol, count)


def test_the_sequence_continues_across_a_forced_drop_without_replay_or_gap(
    start_simulator: StartSimulator, client: Client
) -> None:
    simulator = start_simulator(simulator_max_trades=600, simulator_rate=1500, simulator_seed=9)
    first = client.connect(simulator.url, SYMBOLS)
    before = client.trades_of(client.receive_for(first, 0.15))
    assert client.control(simulator, "drop")["connections"] == [1]
    before += client.trades_of(
        client.receive_for(first, 1.0)
    )  # what was sent before the drop is still delivered
    assert 0 < len(before) < 600
    second = client.connect(simulator.url, SYMBOLS)
    client.wait_until_finished(simulator)
    after = client.trades_of(client.receive_for(second, 0.3))
    received = by_symbol(before + after)
    assert sum(len(trades) for trades in received.values()) == 600
    for symbol in SYMBOLS:
        assert received[symbol] == tape(9, symbol, len(received[symbol]))


def test_the_sent_log_holds_every_frame_sent_in_order(
    start_simulator: StartSimulator, client: Client, tmp_path: Path
) -> None:
    sent_log = tmp_path / "sent.jsonl"
    simulator = start_simulator(
        simulator_max_trades=200, simulator_rate=2000, simulator_sent_log=sent_log, simulator_ping_seconds=0.1
    )
    ws = client.connect(simulator.url, SYMBOLS)
    client.wait_until_finished(simulator)
    received = client.receive_raw_for(ws, 0.3)
    ws.close()
    logged = [frame.frame for frame in read_recording(sent_log)]
    assert logged[: len(received)] == received


def test_repeat_resends_the_last_trade_frame_byte_for_byte(
    start_simulator: StartSimulator, client: Client
) -> None:
    simulator = start_simulator(simulator_rate=200)
    ws = client.connect(simulator.url, ("AAPL",))
    frames = client.receive_raw_for(ws, 0.2)
    assert client.control(simulator, "repeat")["connections"] == [1]
    frames += client.receive_raw_for(ws, 0.3)
    trade_frames = [f for f in frames if f.startswith(b'{"data"')]
    assert len(trade_frames) - len(set(trade_frames)) == 1


def test_garbage_sends_a_frame_the_producer_dead_letters(
    start_simulator: StartSimulator, client: Client
) -> None:
    simulator = start_simulator(simulator_rate=0)
    ws = client.connect(simulator.url, ("AAPL",))
    client.receive_raw_for(ws, 0.1)
    client.control(simulator, "garbage")
    (frame,) = client.receive_raw_for(ws, 0.3)
    outcome = parse_frame(frame, int(time.time() * 1000), ValidationRules(symbols=frozenset({"AAPL"})))
    assert outcome.trades == []
    assert [d.reason for d in outcome.dead_letters] == [DeadLetterReason.NOT_JSON]


def test_silence_stops_trades_and_pings_until_resumed(
    start_simulator: StartSimulator, client: Client
) -> None:
    simulator = start_simulator(simulator_rate=300, simulator_ping_seconds=0.1)
    ws = client.connect(simulator.url, ("AAPL",))
    client.receive_raw_for(ws, 0.1)
    client.control(simulator, "silence?seconds=30")
    client.receive_raw_for(ws, 0.05)  # frames already in flight
    assert client.receive_raw_for(ws, 0.5) == []
    client.control(simulator, "resume")
    assert client.trades_of(client.receive_for(ws, 0.4))


def test_drop_every_n_frames_closes_after_exactly_n_trade_frames(
    start_simulator: StartSimulator, client: Client
) -> None:
    simulator = start_simulator(simulator_rate=500, simulator_drop_every_frames=5)
    ws = client.connect(simulator.url, ("AAPL",))
    frames = client.receive_raw_for(ws, 2.0)
    assert len([f for f in frames if f.startswith(b'{"data"')]) == 5
    assert client.is_closed(ws)


def test_drop_after_seconds_closes_the_connection(start_simulator: StartSimulator, client: Client) -> None:
    simulator = start_simulator(simulator_rate=100, simulator_drop_after_seconds=0.3)
    ws = client.connect(simulator.url, ("AAPL",))
    started = time.monotonic()
    client.receive_raw_for(ws, 2.0)  # returns when the server closes
    assert 0.25 <= time.monotonic() - started < 1.5


def test_silence_after_seconds_goes_quiet_for_the_configured_time(
    start_simulator: StartSimulator, client: Client
) -> None:
    simulator = start_simulator(
        simulator_rate=300, simulator_silence_after_seconds=0.2, simulator_silence_seconds=1.0
    )
    ws = client.connect(simulator.url, ("AAPL",))
    assert client.receive_raw_for(ws, 0.25)
    client.receive_raw_for(ws, 0.1)  # frames already in flight
    assert client.receive_raw_for(ws, 0.5) == []
    assert client.receive_raw_for(ws, 1.0)


def test_repeat_and_garbage_every_n_frames(start_simulator: StartSimulator, client: Client) -> None:
    simulator = start_simulator(
        simulator_rate=300,
        simulator_max_trades=100,
        simulator_repeat_every_frames=3,
        simulator_garbage_every_frames=4,
    )
    ws = client.connect(simulator.url, ("AAPL",))
    client.wait_until_finished(simulator)
    frames = client.receive_raw_for(ws, 0.3)
    trade_frames = [f for f in frames if f.startswith(b'{"data"')]
    unique = len(set(trade_frames))
    assert len(trade_frames) - unique == unique // 3
    assert len([f for f in frames if not f.startswith(b'{"data"')]) == unique // 4
