"""The producer and the simulator as real processes (`python -m ...`, as supervisord runs them), on free
ports, writing to topics of their own on the stack's real Kafka. Used by the producer's integration tests and
`make bench-producer`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import orjson
from prometheus_client.parser import text_string_to_metric_families

from services.kafka_options import KafkaConnection
from services.layout import ROOT
from testkit.settings import settings_folder

from .kafka import create_topics
from .runtime import free_port
from .waiting import eventually


@dataclass
class Process:
    """A `python -m module` child with its own environment; its stderr+stdout go to `log`."""

    module: str
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", self.module],
                cwd=ROOT,
                # The project is installed into the virtualenv: its Python imports the services as they are.
                env={"PATH": os.environ["PATH"], **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, timeout_s: float = 30) -> int:
        """SIGTERM, then the exit code (SIGKILL after `timeout_s`)."""
        assert self.popen is not None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                return self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
        return self.popen.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Simulator(Process):
    port: int = 0

    def control(self, action: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        url = f"http://127.0.0.1:{self.port}/control/{action}{query}"
        with urllib.request.urlopen(url, timeout=10) as response:
            return orjson.loads(response.read())

    def wait_ready(self) -> None:
        eventually(lambda: self.control("stats"), 30, 0.2, what=f"simulator up (log {self.log})")


@dataclass
class Producer(Process):
    metrics_port: int = 0
    topics: tuple[str, str] = ("", "")

    def metrics_text(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())

    def metric(self, name: str, **labels: str) -> float:
        """The sample's value, 0 when absent (a labelled counter not yet incremented)."""
        for family in text_string_to_metric_families(self.metrics_text()):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    return float(sample.value)
        return 0.0

    def wait_connected(self) -> None:
        eventually(
            lambda: self.metric("websocket_connected") == 1.0,
            60,
            0.5,
            what=f"producer connected ({self.log})",
        )


@dataclass
class Run:
    """One simulator feeding one producer, on topics of their own."""

    simulator: Simulator
    producer: Producer
    sent_log: Path
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def trades_topic(self) -> str:
        return self.producer.topics[0]

    @property
    def dead_letter_topic(self) -> str:
        return self.producer.topics[1]

    def stop(self) -> None:
        for process in (self.producer, self.simulator):
            if process.popen is not None:
                process.stop()


def start_run(
    workdir: Path,
    connection: KafkaConnection,
    name: str,
    symbols: str,
    simulator_env: dict[str, str],
    producer_env: dict[str, str],
) -> Run:
    trades, dead = f"{name}.trades", f"{name}.dead_letter"
    create_topics(connection, trades, dead)
    sim_port, metrics_port = free_port(), free_port()
    sent_log = workdir / "simulator-sent.jsonl"
    simulator = Simulator(
        "services.producer.simulator",
        {
            "SIMULATOR_PORT": str(sim_port),
            "SIMULATOR_SENT_LOG": str(sent_log),
            "SIMULATOR_PING_SECONDS": "5",
            **simulator_env,
        },
        workdir / "simulator.log",
        port=sim_port,
    ).start()
    simulator.wait_ready()
    producer = Producer(
        "services.producer",
        {
            "FINNHUB_WS_URL": f"ws://127.0.0.1:{sim_port}",
            "SYMBOLS": symbols,
            **settings_folder(workdir / "producer-settings", connection.as_settings()),
            "TRADES_TOPIC": trades,
            "DEAD_LETTER_TOPIC": dead,
            "PRODUCER_METRICS_HOST": "127.0.0.1",
            "PRODUCER_METRICS_PORT": str(metrics_port),
            "PRODUCER_BACKOFF_INITIAL_SECONDS": "0.2",
            "PRODUCER_BACKOFF_MAX_SECONDS": "2",
            **producer_env,
        },
        workdir / "producer.log",
        metrics_port=metrics_port,
        topics=(trades, dead),
    ).start()
    return Run(simulator, producer, sent_log)


def sent_trades(sent_log: Path) -> Iterator[dict[str, Any]]:
    """Every trade the simulator sent as an original frame (repeats and garbage excluded), in send order."""
    for line in sent_log.read_text().splitlines():
        entry = orjson.loads(line)
        if entry.get("fault") is not None or "frame" not in entry:
            continue
        frame = orjson.loads(entry["frame"])
        if frame.get("type") == "trade":
            yield from frame["data"]
