"""Shared fixtures of the producer's unit tests: Finnhub's public example frames and fresh metrics."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError
from prometheus_client import CollectorRegistry

from services.producer.metrics import ProducerMetrics

FIXTURES = Path("/work/shared/fixtures/finnhub/public-examples.jsonl")


class FakeMessage:
    def __init__(self, topic: str, key: bytes | None) -> None:
        self._topic, self._key = topic, key

    def topic(self) -> str:
        return self._topic

    def key(self) -> bytes | None:
        return self._key


class FakeProducer:
    """Refuses the first `full_for` produce calls (or batches) as a full queue, then queues; poll delivers."""

    def __init__(self, full_for: int = 0, fail_with: str | None = None) -> None:
        self.full_for = full_for
        self.fail_with = fail_with
        self.queued: list[tuple[str, bytes, bytes | None, Callable[..., None]]] = []
        self.produced: list[tuple[str, bytes, bytes | None]] = []
        self.polls: list[float] = []
        self.purged = False

    def produce(
        self, topic: str, value: bytes, key: bytes | None, *, on_delivery: Callable[..., None]
    ) -> None:
        if self.full_for:
            self.full_for -= 1
            raise BufferError("Local: Queue full")
        self.queued.append((topic, value, key, on_delivery))

    def produce_batch(
        self, topic: str, messages: list[dict[str, Any]], *, on_delivery: Callable[..., None]
    ) -> int:
        """As confluent-kafka's: refused messages get an `_error`; after the first that finds the queue full,
        every later one of the batch is refused too (librdkafka keeps the order that way)."""
        queued = 0
        for index, message in enumerate(messages):
            if self.full_for:
                self.full_for -= 1
                for refused in messages[index:]:
                    refused["_error"] = KafkaError(KafkaError._QUEUE_FULL)
                break
            self.queued.append((topic, message["value"], message.get("key"), on_delivery))
            queued += 1
        return queued

    def poll(self, timeout: float) -> int:
        self.polls.append(timeout)
        delivered = self.queued
        self.queued = []
        for topic, value, key, callback in delivered:
            self.produced.append((topic, value, key))
            callback(self.fail_with, FakeMessage(topic, key))
        return len(delivered)

    def flush(self, timeout: float) -> int:
        if self.purged:
            return self.poll(0)
        return len(self.queued)

    def purge(self) -> None:
        self.purged = True
        self.fail_with = "Local: Purged in queue"

    def __len__(self) -> int:
        return len(self.queued)


@pytest.fixture
def fake_producer() -> type[FakeProducer]:
    """The fake confluent-kafka Producer class, to build with the behaviour a test needs."""
    return FakeProducer


@pytest.fixture(scope="session")
def public_frames() -> list[bytes]:
    """The public example frames, one bytes object per line, exactly as stored."""
    return [line for line in FIXTURES.read_bytes().splitlines() if line.strip()]


@pytest.fixture
def metrics() -> ProducerMetrics:
    return ProducerMetrics(CollectorRegistry())
