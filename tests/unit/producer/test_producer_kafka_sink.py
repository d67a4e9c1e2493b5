"""The Kafka sink: no-loss settings, waiting (not dropping) on a full queue, counting every delivery."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer

from services.kafka_options import KafkaConnection
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


def stopping_sink_with_a_full_queue(metrics: ProducerMetrics, fake_producer: Any) -> KafkaSink:
    """A sink whose local queue never empties, after shutdown has begun."""
    stop = threading.Event()
    stop.set()
    return KafkaSink(fake_producer(full_for=10**9), metrics, stop)


def test_shutdown_while_the_queue_stays_full_counts_the_record_as_failed(
    metrics: ProducerMetrics, fake_producer: Any
) -> None:
    sink = stopping_sink_with_a_full_queue(metrics, fake_producer)
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


def batch(*symbols: str) -> list[dict[str, Any]]:
    return [{"key": s.encode(), "value": f'{{"n":{i}}}'.encode()} for i, s in enumerate(symbols)]


def test_a_batch_is_queued_in_order_and_every_delivery_counted(
    metrics: ProducerMetrics, fake_producer: Any
) -> None:
    producer = fake_producer()
    sink = KafkaSink(producer, metrics, threading.Event())
    assert sink.send_batch("trades", batch("AAPL", "MSFT", "AAPL")) == 3
    sink.poll()
    assert [value for _topic, value, _key in producer.produced] == [b'{"n":0}', b'{"n":1}', b'{"n":2}']
    assert sample(metrics, "kafka_messages_sent_total", topic="trades") == 3


def test_a_batch_that_finds_the_queue_full_resumes_at_the_refused_message_in_order(
    metrics: ProducerMetrics, fake_producer: Any
) -> None:
    producer = fake_producer()
    sink = KafkaSink(producer, metrics, threading.Event(), full_queue_wait_seconds=0.01)
    real_batch = producer.produce_batch
    calls = []

    def full_after_two(topic: str, messages: list[dict[str, Any]], **kwargs: Any) -> int:
        calls.append(len(messages))
        if len(calls) == 1:  # two fit, then the queue stays full for this call and the next two
            queued = int(real_batch(topic, messages[:2], **kwargs))
            producer.full_for = 3
            return queued + int(real_batch(topic, messages[2:], **kwargs))
        return int(real_batch(topic, messages, **kwargs))

    producer.produce_batch = full_after_two
    assert sink.send_batch("trades", batch(*["AAPL"] * 5)) == 5
    sink.poll()
    assert [value for _topic, value, _key in producer.produced] == [f'{{"n":{i}}}'.encode() for i in range(5)]
    assert calls == [5, 3, 3, 3]
    assert sample(metrics, "kafka_buffer_full_total") == 1
    assert sample(metrics, "kafka_messages_sent_total", topic="trades") == 5


def test_shutdown_while_a_batch_waits_on_a_full_queue_counts_the_rest_as_failed(
    metrics: ProducerMetrics, fake_producer: Any
) -> None:
    sink = stopping_sink_with_a_full_queue(metrics, fake_producer)
    assert sink.send_batch("trades", batch("AAPL", "MSFT")) == 0
    assert sample(metrics, "kafka_delivery_failures_total", topic="trades") == 2


def test_a_batch_refused_for_another_reason_raises_as_produce_does(
    metrics: ProducerMetrics, fake_producer: Any
) -> None:
    producer = fake_producer()

    def unknown_topic(topic: str, messages: list[dict[str, Any]], **kwargs: Any) -> int:
        for message in messages:
            message["_error"] = KafkaError(KafkaError._UNKNOWN_TOPIC)
        return 0

    producer.produce_batch = unknown_topic
    sink = KafkaSink(producer, metrics, threading.Event())
    with pytest.raises(KafkaException):
        sink.send_batch("trades", batch("AAPL"))


def test_the_real_client_refuses_the_tail_of_a_batch_once_its_queue_is_full() -> None:
    # What send_batch relies on, checked against confluent-kafka itself (no broker needed to queue).
    producer = Producer(KafkaConnection("127.0.0.1:1").client_options({"queue.buffering.max.messages": 3}))
    messages = batch("AAPL", "MSFT", "AAPL", "MSFT", "AAPL")
    assert producer.produce_batch("trades", messages, on_delivery=lambda err, msg: None) == 3
    assert ["_error" in m for m in messages] == [False, False, False, True, True]
    assert messages[3]["_error"].code() == KafkaError._QUEUE_FULL
    producer.purge()
    producer.flush(0)
