"""The producer's I/O loop against the simulator on loopback, with a fake Kafka client: every trade the
simulator sends is produced exactly once, in order per symbol, across drops, silences and repeats."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from services.producer.backoff import FullJitterBackoff
from services.producer.dedupe import FrameDeduplicator
from services.producer.finnhub_ws import FinnhubConnection, connect_url, redacted_url
from services.producer.frames import ValidationRules
from services.producer.kafka_sink import KafkaSink
from services.producer.metrics import ProducerMetrics
from services.producer.pipeline import FrameProcessor
from services.producer.recording import FrameRecorder, read_recording
from services.producer.service import ProducerService
from services.producer.simulator.embedded import EmbeddedSimulator
from services.producer.simulator.market import SymbolTape
from services.producer.simulator.settings import SimulatorSettings

SYMBOLS = ("AAPL", "BINANCE:BTCUSDT", "OANDA:EUR_USD")
KEY = "c0ffee1234secretkey"


class RunningProducer:
    """A ProducerService on a thread, producing into a fake Kafka client."""

    def __init__(
        self, service: ProducerService, producer: Any, metrics: ProducerMetrics, stop: threading.Event
    ):
        self.producer, self.metrics, self.stop = producer, metrics, stop
        self.thread = threading.Thread(target=service.run, daemon=True)
        self.thread.start()

    def sample(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0

    def records(self, topic: str) -> list[dict[str, Any]]:
        return [
            orjson.loads(value)
            for record_topic, value, _key in self.producer.produced
            if record_topic == topic
        ]

    def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; produced {len(self.producer.produced)} records")
            time.sleep(0.02)


@pytest.fixture
def run_producer(fake_producer: Any) -> Iterator[Callable[..., RunningProducer]]:
    running: list[RunningProducer] = []
    simulators: list[EmbeddedSimulator] = []

    def start(
        simulator_options: dict[str, Any], api_key: str | None = None, **options: Any
    ) -> RunningProducer:
        settings = {"simulator_port": 0, "simulator_burst_probability": 0.0} | simulator_options
        simulator = EmbeddedSimulator(SimulatorSettings(**settings)).__enter__()
        simulators.append(simulator)
        options["simulator"] = simulator
        metrics, stop, producer = ProducerMetrics(CollectorRegistry()), threading.Event(), fake_producer()
        url = connect_url(simulator.url, api_key)
        processor = FrameProcessor(
            ValidationRules(symbols=frozenset(SYMBOLS)), FrameDeduplicator(300, 10_000), "trades", "dlq"
        )
        service = ProducerService(
            connect=lambda: FinnhubConnection(url, connect_timeout=5, receive_timeout=0.05),
            symbols=options.get("symbols", SYMBOLS),
            processor=processor,
            sink=KafkaSink(producer, metrics, stop),
            metrics=metrics,
            backoff=FullJitterBackoff(0.05, 0.2, rng=random.Random(1)),
            stop=stop,
            watchdog_seconds=options.get("watchdog_seconds", 30.0),
            backoff_reset_seconds=30.0,
            endpoint=redacted_url(simulator.url, api_key),
            recorder=options.get("recorder"),
        )
        running.append(RunningProducer(service, producer, metrics, stop))
        running[-1].simulator = simulator  # type: ignore[attr-defined]
        return running[-1]

    yield start
    for producer in running:
        producer.stop.set()
        producer.thread.join(timeout=5)
    for simulator in simulators:
        simulator.__exit__(None, None, None)


def stats(producer: RunningProducer) -> dict[str, Any]:
    return producer.simulator.call("stats")  # type: ignore[attr-defined,no-any-return]


def control(producer: RunningProducer, action: str) -> None:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{producer.simulator.port}/control/{action}", timeout=5):  # type: ignore[attr-defined]
        pass


def assert_exactly_the_tapes(records: list[dict[str, Any]], seed: int, total: int) -> None:
    """Kafka holds each symbol's tape, in order, once: nothing lost, nothing doubled, nothing reordered."""
    assert len(records) == total
    assert len({record["trade_id"] for record in records}) == total
    by_symbol: dict[str, list[tuple[object, ...]]] = defaultdict(list)
    for record in records:
        by_symbol[record["symbol"]].append((record["price"], record["volume"], tuple(record["conditions"])))
    for symbol, got in by_symbol.items():
        expected = [
            (trade.price, float(trade.volume), tuple(trade.conditions or ()))
            for trade in SymbolTape(seed, symbol).take(len(got))
        ]
        assert got == expected, symbol


def producer_log_text(caplog: pytest.LogCaptureFixture) -> str:
    """What the producer's side logged (not the in-process simulator's own request logs)."""
    mine = [
        r for r in caplog.records if r.name == "websocket" or r.name.startswith(("producer", "websocket."))
    ]
    assert mine
    return "\n".join(record.getMessage() for record in mine)


def test_every_sent_trade_is_produced_once_in_order(run_producer: Callable[..., RunningProducer]) -> None:
    producer = run_producer({"simulator_max_trades": 500, "simulator_rate": 2000, "simulator_seed": 3})
    producer.wait_for(lambda: len(producer.records("trades")) >= 500 and stats(producer)["finished"])
    time.sleep(0.2)
    assert_exactly_the_tapes(producer.records("trades"), seed=3, total=500)
    assert producer.sample("kafka_messages_sent_total", topic="trades") == 500
    assert producer.sample("message_processing_latency_seconds_count") > 0


def test_a_forced_drop_loses_and_doubles_nothing(run_producer: Callable[..., RunningProducer]) -> None:
    producer = run_producer({"simulator_max_trades": 1500, "simulator_rate": 2000, "simulator_seed": 4})
    producer.wait_for(lambda: len(producer.records("trades")) >= 200)
    control(producer, "drop")
    producer.wait_for(lambda: producer.sample("websocket_reconnects_total", reason="server_closed") == 1)
    producer.wait_for(lambda: stats(producer)["finished"] and len(producer.records("trades")) >= 1500)
    time.sleep(0.2)
    assert_exactly_the_tapes(producer.records("trades"), seed=4, total=1500)


def test_a_silent_connection_is_replaced_by_the_watchdog(
    run_producer: Callable[..., RunningProducer],
) -> None:
    producer = run_producer(
        {"simulator_rate": 500, "simulator_silence_after_seconds": 0.3, "simulator_silence_seconds": 60},
        watchdog_seconds=0.5,
    )
    producer.wait_for(lambda: producer.sample("websocket_reconnects_total", reason="watchdog") >= 1)
    before = len(producer.records("trades"))
    producer.wait_for(lambda: len(producer.records("trades")) > before)  # the new connection trades again


def test_repeated_frames_are_counted_and_not_produced_again(
    run_producer: Callable[..., RunningProducer],
) -> None:
    producer = run_producer(
        {
            "simulator_max_trades": 300,
            "simulator_rate": 1000,
            "simulator_repeat_every_frames": 2,
            "simulator_seed": 6,
        }
    )
    producer.wait_for(lambda: stats(producer)["finished"] and len(producer.records("trades")) >= 300)
    time.sleep(0.2)
    assert_exactly_the_tapes(producer.records("trades"), seed=6, total=300)
    repeats = stats(producer)["counts"]["repeats"]
    assert repeats > 0 and producer.sample("finnhub_duplicate_frames_total") == repeats


def test_garbage_frames_are_dead_lettered_and_counted(run_producer: Callable[..., RunningProducer]) -> None:
    producer = run_producer({"simulator_rate": 0})
    producer.wait_for(lambda: producer.sample("websocket_connected") == 1)
    control(producer, "garbage")
    producer.wait_for(lambda: len(producer.records("dlq")) == 1)
    (dead,) = producer.records("dlq")
    assert (dead["source"], dead["reason"], dead["raw"]) == ("producer", "not_json", "this is not JSON")
    assert producer.sample("producer_validation_errors_total", reason="not_json") == 1
    producer.wait_for(lambda: producer.sample("producer_dead_letters_total", reason="not_json") == 1)


def test_server_errors_and_pings_are_counted(run_producer: Callable[..., RunningProducer]) -> None:
    producer = run_producer({"simulator_rate": 0, "simulator_symbol_limit": 2, "simulator_ping_seconds": 0.1})
    message = "Subscribing to too many symbols"
    producer.wait_for(lambda: producer.sample("finnhub_server_errors_total", message=message) == 1)
    producer.wait_for(lambda: producer.sample("finnhub_pings_total") >= 2)
    assert producer.sample("finnhub_messages_received_total", type="ping") >= 2


def test_a_refused_key_is_retried_and_never_logged(
    run_producer: Callable[..., RunningProducer], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        producer = run_producer({"simulator_token": "the-right-token"}, api_key=KEY)
        producer.wait_for(lambda: producer.sample("websocket_reconnects_total", reason="handshake_401") >= 2)
    text = producer_log_text(caplog)
    assert "status=401" in text
    assert KEY not in text


def test_the_key_is_sent_to_the_server_but_logged_redacted(
    run_producer: Callable[..., RunningProducer], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        producer = run_producer({"simulator_token": KEY, "simulator_rate": 200}, api_key=KEY)
        producer.wait_for(lambda: len(producer.records("trades")) > 0)
    text = producer_log_text(caplog)
    assert "token=***" in text
    assert KEY not in text


def test_every_frame_is_recorded_as_received(
    run_producer: Callable[..., RunningProducer], tmp_path: Path
) -> None:
    recorder = FrameRecorder(tmp_path / "record.jsonl")
    producer = run_producer(
        {"simulator_max_trades": 100, "simulator_rate": 1000, "simulator_sent_log": tmp_path / "sent.jsonl"},
        recorder=recorder,
    )
    producer.wait_for(lambda: stats(producer)["finished"] and len(producer.records("trades")) >= 100)
    time.sleep(0.2)
    producer.stop.set()
    producer.thread.join(timeout=5)
    recorder.close()
    recorded = [frame.frame for frame in read_recording(tmp_path / "record.jsonl")]
    sent = [frame.frame for frame in read_recording(tmp_path / "sent.jsonl")]
    assert recorded == sent
