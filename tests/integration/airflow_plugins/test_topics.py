"""KafkaTopicOperator against the real broker: creates, is idempotent, aligns configs, refuses shrinking."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Producer

from finnhub_pipeline.exceptions import TopicConfigError
from finnhub_pipeline.hooks.topics import KafkaTopicsHook
from finnhub_pipeline.operators.topics import KafkaTopicOperator
from stack.settings import RuntimeSettings


@pytest.fixture
def topic(unique_name: str, airflow_connections: None) -> Iterator[str]:
    yield f"{unique_name}.trades"
    KafkaTopicsHook().delete_topic([f"{unique_name}.trades"])


def operator(topic: str, **overrides: Any) -> KafkaTopicOperator:
    arguments: dict[str, Any] = {"partitions": 2, "replication_factor": 1, "retention_ms": 3_600_000}
    return KafkaTopicOperator(task_id="ensure_topic", topic=topic, **{**arguments, **overrides})


def test_topic_is_created_with_its_settings_and_a_second_run_changes_nothing(topic: str) -> None:
    assert operator(topic).execute({}) == {"topic": topic, "created": True, "changes": {}}
    live = KafkaTopicsHook().describe(topic)
    assert live is not None
    assert (live.partitions, live.replication_factor) == (2, 1)
    assert live.configs["retention.ms"] == "3600000"
    assert live.configs["compression.type"] == "producer"
    assert live.configs["min.insync.replicas"] == "1"
    assert operator(topic).execute({}) == {"topic": topic, "created": False, "changes": {}}


def test_existing_topic_gets_new_retention_and_more_partitions(topic: str) -> None:
    operator(topic).execute({})
    result = operator(topic, partitions=3, retention_ms=7_200_000, compression_type="lz4").execute({})
    assert result["changes"] == {
        "compression.type": ["producer", "lz4"],
        "retention.ms": ["3600000", "7200000"],
        "partitions": [2, 3],
    }
    live = KafkaTopicsHook().describe(topic)
    assert live is not None
    assert (live.partitions, live.configs["retention.ms"], live.configs["compression.type"]) == (
        3,
        "7200000",
        "lz4",
    )


def test_fewer_partitions_than_the_topic_has_fails_readably(topic: str) -> None:
    operator(topic, partitions=3).execute({})
    with pytest.raises(
        TopicConfigError, match="has 3 partitions, configured 2: Kafka cannot remove partitions"
    ):
        operator(topic, partitions=2).execute({})


def test_end_offsets_count_every_record_written(topic: str, runtime: RuntimeSettings) -> None:
    operator(topic).execute({})
    producer = Producer(runtime.kafka_connection().client_options())
    for index in range(7):
        producer.produce(topic, key=f"S{index}", value=b"{}")
    assert producer.flush(30) == 0
    assert KafkaTopicsHook().end_offset_total(topic) == 7
