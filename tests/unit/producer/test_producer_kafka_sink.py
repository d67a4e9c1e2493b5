"""The Kafka sink: no-loss settings, waiting (not dropping) on a full queue, counting every delivery."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from services.producer.kafka_sink import KafkaSink, producer_config
from services.producer.metrics import ProducerMetrics
from services.producer.records import KafkaRecord
from services.producer.settings import ProducerSettings

RECORD = KafkaRecord("trades", b"AAPL", b"{}", "AAPL")


def sample(metrics: ProducerMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_producer_config_asks_for_no_loss_and_no_duplicates() -> None:
    config = producer_config(ProducerSettings())
    assert config["acks"] == "all"
    assert config["enable.idempotence"] is True
    assert config["compression.type"] in ("lz4", "zstd")
    assert config["linger.ms"] > 0
    assert config["delivery.timeout.ms"] >= 60_000
    assert config["queue.buffering.max.messages"] > 0 and config["queue.buffering.max.kbytes"] > 0


def test_a_delivered_record_is_counted_as_sent_by_topic(metrics: ProducerMetrics, fake_producer: Any) -> None:
    producer = fake_producer()
    sink = KafkaSink(producer, metrics, threading.Event())
    sink.send(RECORD)
    sink.poll()
    assert sample(metrics, "kafka_messages_sent_total", topic="trades") == 1
    assert sample(metrics, "kafka_delivery_failures_total", topic="trades") == 0


def test_a_full_queue_is_waited_out_and_the_record_is_produced_once(
    metrics: ProducerMetrics, fake_producer: Any
) -> None:
    producer = fake_producer(full_for=3)
    sink = KafkaSink(producer, metrics, threading.Event(), full_queue_wait_seconds=0.01)
    assert sink.send(RECORD) is True
    sink.poll()
    assert producer.produced == [("trades", b"{}", b"AAPL")]
    assert producer.polls[:3] == [0.01, 0.01, 0.01]
    assert sample(metrics, "kafka_buffer_full_total") == 1


def test_a_failed_delivery_is_counted_and_logged_with_topic_and_symbol(
    metrics: ProducerMetrics, caplog: pytest.LogCaptureFixture, fake_producer: Any
) -> None:
    sink = KafkaSink(fake_producer(fail_with="Broker: Message timed out"), metrics, threading.Event())
    with caplog.at_level(logging.ERROR):
        sink.send(RECORD)
        sink.poll()
    assert sample(metrics, "kafka_delivery_failures_total", topic="trades") == 1
    assert sample(metrics, "kafka_messages_sent_total", topic="trades") == 0
    (line,) = [r.getMessage() for r in caplog.records if "kafka_delivery_failed" in r.getMessage()]
    assert "topic=trades" in line and "symbol=AAPL" in line


def test_shutdown_while_the_queue_stays_full_counts_the_record_as_failed(
    metrics: ProducerMetrics, fake_producer: Any
) -> None:
    stop = threading.Event()
    stop.set()
    sink = KafkaSink(fake_producer(full_for=10**9), metrics, stop)
    assert sink.send(RECORD) is False
    assert sample(metrics, "kafka_delivery_failures_total", topic="trades") == 1


def test_records_left_after_the_flush_timeout_are_purged_and_counted(
    metrics: ProducerMetrics, fake_producer: Any
) -> None:
    producer = fake_producer()
    sink = KafkaSink(producer, metrics, threading.Event())
    for _ in range(3):
        sink.send(RECORD)
    assert sink.close(timeout_seconds=0.1) == 3
    assert producer.purged
    assert sample(metrics, "kafka_delivery_failures_total", topic="trades") == 3


def test_failure_log_lines_are_rate_limited(
    metrics: ProducerMetrics, caplog: pytest.LogCaptureFixture, fake_producer: Any
) -> None:
    sink = KafkaSink(fake_producer(fail_with="Local: Message timed out"), metrics, threading.Event())
    with caplog.at_level(logging.ERROR):
        for _ in range(100):
            sink.send(RECORD)
        sink.poll()
    assert sample(metrics, "kafka_delivery_failures_total", topic="trades") == 100
    assert len([r for r in caplog.records if "kafka_delivery_failed" in r.getMessage()]) == 10
