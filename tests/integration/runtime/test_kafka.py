"""Kafka of the local runtime: topics, a record's round trip, survival of a kill -9."""

from __future__ import annotations

import os
import signal

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from stack.settings import RuntimeSettings
from stack.supervisor import Supervisor
from testkit.runtime import run_stack
from testkit.waiting import eventually


def create_topic(runtime: RuntimeSettings, name: str) -> None:
    admin = AdminClient(runtime.kafka_connection().client_options())
    admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])[name].result(timeout=30)


def produce(runtime: RuntimeSettings, topic: str, key: bytes, value: bytes) -> None:
    producer = Producer(
        runtime.kafka_connection().client_options({"acks": "all", "enable.idempotence": True})
    )
    producer.produce(topic, key=key, value=value)
    assert producer.flush(30) == 0, "record not delivered"


def consume_all(runtime: RuntimeSettings, topic: str, expected: int, timeout_s: float = 60) -> list[tuple]:
    consumer = Consumer(
        runtime.kafka_connection().client_options(
            {"group.id": f"{topic}-reader", "auto.offset.reset": "earliest", "enable.auto.commit": False}
        )
    )
    consumer.subscribe([topic])
    records: list[tuple] = []
    try:

        def read() -> bool:
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                records.append((message.key(), message.value()))
            return len(records) >= expected

        eventually(read, timeout_s, interval_s=0, what=f"{expected} records in {topic}")
    finally:
        consumer.close()
    return records


def test_record_round_trips_through_a_new_topic(runtime: RuntimeSettings, unique_name: str) -> None:
    create_topic(runtime, unique_name)
    produce(runtime, unique_name, b"AAPL", b'{"p": 284.45}')

    assert consume_all(runtime, unique_name, expected=1) == [(b"AAPL", b'{"p": 284.45}')]


def test_kafka_topics_lists_a_created_topic(runtime: RuntimeSettings, unique_name: str) -> None:
    create_topic(runtime, unique_name)

    result = run_stack("kafka-topics", "--list", timeout_s=120)

    assert result.returncode == 0, result.stderr
    assert unique_name in result.stdout.split()


def test_kafka_killed_with_sigkill_is_restarted_and_keeps_its_records(
    runtime: RuntimeSettings, supervisor: Supervisor, unique_name: str
) -> None:
    create_topic(runtime, unique_name)
    produce(runtime, unique_name, b"MSFT", b"before the crash")
    old_pid = supervisor.programs()["kafka"].pid

    os.kill(old_pid, signal.SIGKILL)

    eventually(
        lambda: supervisor.programs()["kafka"].pid not in (0, old_pid), 60, what="supervisor restarted kafka"
    )
    assert run_stack("wait", "kafka").returncode == 0
    assert consume_all(runtime, unique_name, expected=1, timeout_s=120) == [(b"MSFT", b"before the crash")]
