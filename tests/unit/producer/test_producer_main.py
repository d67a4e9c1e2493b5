"""The producer as a process (`python -m services.producer`) against the simulator, with no Kafka to reach:
it serves metrics, keeps the key out of its output and process list, and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest

from services.producer.simulator.embedded import EmbeddedSimulator
from services.producer.simulator.settings import SimulatorSettings

KEY = "c0ffee1234secretkey"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def metric_value(port: int, name: str) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.fixture
def producer_process() -> Iterator[tuple[subprocess.Popen[str], int]]:
    simulator = EmbeddedSimulator(
        SimulatorSettings(
            simulator_port=0, simulator_token=KEY, simulator_rate=200, simulator_burst_probability=0
        )
    ).__enter__()
    metrics_port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FINNHUB_", "PRODUCER_", "SYMBOLS", "KAFKA_"))
    }
    env |= {
        "FINNHUB_API_KEY": KEY,
        "FINNHUB_WS_URL": simulator.url,
        "SYMBOLS": "AAPL,MSFT",
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",  # nothing listens: trades wait in the queue
        "PRODUCER_METRICS_PORT": str(metrics_port),
        "PRODUCER_METRICS_HOST": "127.0.0.1",
        "PRODUCER_SHUTDOWN_FLUSH_SECONDS": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "services.producer"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    yield process, metrics_port
    if process.poll() is None:
        process.kill()
        process.wait()
    simulator.__exit__(None, None, None)


def test_the_process_connects_stops_on_sigterm_and_never_shows_the_key(
    producer_process: tuple[subprocess.Popen[str], int],
) -> None:
    process, metrics_port = producer_process
    deadline = time.monotonic() + 20
    while metric_value(metrics_port, "finnhub_trades_received_total") in (None, 0.0):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no trades received"
        time.sleep(0.1)
    assert metric_value(metrics_port, "websocket_connected") == 1.0
    with open(f"/proc/{process.pid}/cmdline", "rb") as cmdline:
        assert KEY.encode() not in cmdline.read()

    process.send_signal(signal.SIGTERM)
    _stdout, stderr = process.communicate(timeout=15)
    assert process.returncode == 0
    assert KEY not in stderr
    lines = stderr.splitlines()
    assert all(line.startswith("ts=") for line in lines), lines
    assert any("event=producer_stopped" in line for line in lines)
    assert any("event=kafka_undelivered_at_shutdown" in line for line in lines)
