"""Replay of a recording (the producer's record format): subscribers get the recorded frames, in order."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson

from services.producer.recording import FrameRecorder

AAPL_1 = b'{"data":[{"p":1.5,"s":"AAPL","t":1000,"v":1}],"type":"trade"}'
MSFT_1 = b'{"data":[{"p":2.5,"s":"MSFT","t":1100,"v":1}],"type":"trade"}'
MIXED = b'{"data":[{"p":1.6,"s":"AAPL","t":1200,"v":2},{"p":2.6,"s":"MSFT","t":1200,"v":0}],"type":"trade"}'
PING = b'{"type":"ping"}'

StartSimulator = Any  # the conftest fixture: start_simulator(**settings) -> EmbeddedSimulator
Client = Any  # the conftest FinnhubTestClient


def write_recording(path: Path, frames: list[bytes], spacing_ms: int) -> None:
    recorder = FrameRecorder(path)
    for i, frame in enumerate(frames):
        recorder.record(1_000_000 + i * spacing_ms, frame)
    recorder.close()


def test_replay_sends_the_recorded_frames_of_subscribed_symbols_byte_for_byte(
    start_simulator: StartSimulator, client: Client, tmp_path: Path
) -> None:
    recording = tmp_path / "session.jsonl"
    write_recording(recording, [AAPL_1, MSFT_1, PING, MIXED], spacing_ms=10)
    simulator = start_simulator(simulator_replay_file=recording, simulator_ping_seconds=60)
    assert simulator.call("stats")["replay_started_at"] is None  # nothing sent before a subscriber
    connected_at = time.time()
    ws = client.connect(simulator.url, ("AAPL",))
    stats = client.wait_until_finished(simulator)
    assert client.receive_raw_for(ws, 0.3) == [AAPL_1, PING, MIXED]
    assert stats["per_symbol"] == {"AAPL": 2, "MSFT": 1}
    assert connected_at <= stats["replay_started_at"] <= time.time()


def test_replay_keeps_the_recorded_pace_divided_by_the_speed(
    start_simulator: StartSimulator, client: Client, tmp_path: Path
) -> None:
    recording = tmp_path / "slow.jsonl"
    write_recording(recording, [AAPL_1] * 4, spacing_ms=1000)  # 3 s recorded
    simulator = start_simulator(simulator_replay_file=recording, simulator_replay_speed=6)
    client.connect(simulator.url, ("AAPL",))
    started = time.monotonic()
    client.wait_until_finished(simulator)
    assert 0.4 <= time.monotonic() - started < 1.5


def test_retimed_replay_moves_trade_times_to_now(
    start_simulator: StartSimulator, client: Client, tmp_path: Path
) -> None:
    recording = tmp_path / "old.jsonl"
    write_recording(recording, [AAPL_1], spacing_ms=0)
    simulator = start_simulator(simulator_replay_file=recording, simulator_replay_retime=True)
    ws = client.connect(simulator.url, ("AAPL",))
    client.wait_until_finished(simulator)
    (frame,) = client.receive_raw_for(ws, 0.3)
    trade_time = orjson.loads(frame)["data"][0]["t"]
    assert abs(trade_time - (time.time() * 1000 - (1_000_000 - 1000))) < 5_000
