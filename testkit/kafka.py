"""Kafka as the tests and benchmarks use it: topics of their own, reading a topic back, its end offsets.
Every client's options come from the shared `KafkaConnection` (services.kafka_options).
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from services.kafka_options import KafkaConnection


def create_topics(connection: KafkaConnection, *names: str, partitions: int = 3) -> None:
    """Creates the topics (replication factor 1: the local runtime has one broker) and waits for them."""
    admin = AdminClient(connection.client_options())
    futures = admin.create_topics([NewTopic(name, partitions, 1) for name in names])
    for future in futures.values():
        future.result(timeout=30)


def delete_topics_with_prefix(connection: KafkaConnection, prefix: str) -> None:
    """Deletes every topic whose name starts with `prefix` (what one run created), and waits for it."""
    admin = AdminClient(connection.client_options())
    created = [topic for topic in admin.list_topics(timeout=30).topics if topic.startswith(prefix)]
    if created:
        for future in admin.delete_topics(created, operation_timeout=60).values():
            future.result(timeout=120)


def consume(
    connection: KafkaConnection, topic: str, expected: int, idle_s: float = 10.0
) -> list[dict[str, Any]]:
    """Every record of `topic` from the start: stops at `expected` records plus an idle period (to catch
    extras), or after `idle_s` without a new record. Each: key, value (parsed), partition, offset."""
    consumer = Consumer(
        connection.client_options(
            {
                "group.id": f"test-{topic}-{time.monotonic_ns()}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
            }
        )
    )
    consumer.subscribe([topic])
    records: list[dict[str, Any]] = []
    last_new = time.monotonic()
    try:
        while time.monotonic() - last_new < (2.0 if len(records) >= expected else idle_s):
            for message in consumer.consume(num_messages=10_000, timeout=0.5):
                if message.error():
                    raise KafkaException(message.error())
                key, value = message.key(), message.value()
                assert value is not None, f"a record without a value in {topic}"
                records.append(
                    {
                        "key": key.decode() if key else None,
                        "value": orjson.loads(value),
                        "partition": message.partition(),
                        "offset": message.offset(),
                    }
                )
                last_new = time.monotonic()
    finally:
        consumer.close()
    return records


def end_offsets(connection: KafkaConnection, topic: str, partitions: int = 3) -> int:
    """The sum of the topic's partitions' end offsets: how many records it has ever held."""
    consumer = Consumer(connection.client_options({"group.id": "offsets"}))
    try:
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)
        )
    finally:
        consumer.close()
