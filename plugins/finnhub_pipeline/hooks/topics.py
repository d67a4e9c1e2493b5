"""Kafka topic administration on the `kafka_default` connection: describe, create, alter, end offsets.

Builds on the Kafka provider's `KafkaAdminClientHook` (the connection's extra is the librdkafka config);
what to change is decided by the pure `topic_settings.plan`.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.apache.kafka.hooks.client import KafkaAdminClientHook
from confluent_kafka import KafkaException, TopicCollection, TopicPartition
from confluent_kafka.admin import (
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    OffsetSpec,
)

from finnhub_pipeline.connections import KAFKA_CONN_ID
from finnhub_pipeline.exceptions import TopicConfigError
from finnhub_pipeline.topic_settings import LiveTopic, TopicPlan, TopicSpec


class KafkaTopicsHook(KafkaAdminClientHook):
    """Topic-level admin calls, each waiting for its result (`timeout_s`) and naming the topic on failure."""

    def __init__(self, kafka_config_id: str = KAFKA_CONN_ID, timeout_s: float = 30) -> None:
        super().__init__(kafka_config_id=kafka_config_id)
        self.timeout_s = timeout_s

    @property
    def admin(self) -> Any:
        return self.get_conn

    def describe(self, topic: str) -> LiveTopic | None:
        """The live topic, or None when it does not exist."""
        if topic not in self.admin.list_topics(timeout=self.timeout_s).topics:
            return None
        description = self.admin.describe_topics(TopicCollection([topic]))[topic].result(
            timeout=self.timeout_s
        )
        partitions = description.partitions
        resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
        entries = self.admin.describe_configs([resource])[resource].result(timeout=self.timeout_s)
        return LiveTopic(
            name=topic,
            partitions=len(partitions),
            replication_factor=min(len(partition.replicas) for partition in partitions),
            configs={name: entry.value for name, entry in entries.items()},
        )

    def create(self, spec: TopicSpec) -> bool:
        """Creates the topic; False when it already existed (a concurrent bootstrap), True when created."""
        new_topic = NewTopic(
            spec.name,
            num_partitions=spec.partitions,
            replication_factor=spec.replication_factor,
            config=dict(spec.configs),
        )
        future = self.admin.create_topics([new_topic], request_timeout=self.timeout_s)[spec.name]
        try:
            future.result(timeout=self.timeout_s)
        except KafkaException as error:
            if error.args[0].name() == "TOPIC_ALREADY_EXISTS":
                return False
            raise TopicConfigError(f"creating topic {spec.name!r} failed: {error.args[0].str()}") from error
        return True

    def apply(self, topic_plan: TopicPlan) -> None:
        """Applies a plan: incremental config SETs (other configs untouched), then new partitions."""
        if topic_plan.config_changes:
            resource = ConfigResource(
                ConfigResource.Type.TOPIC,
                topic_plan.name,
                incremental_configs=[
                    ConfigEntry(key, new, incremental_operation=AlterConfigOpType.SET)
                    for key, (_, new) in topic_plan.config_changes.items()
                ],
            )
            try:
                self.admin.incremental_alter_configs([resource])[resource].result(timeout=self.timeout_s)
            except KafkaException as error:
                raise TopicConfigError(
                    f"altering configs of topic {topic_plan.name!r} failed: {error.args[0].str()}"
                ) from error
        if topic_plan.partitions_to is not None:
            futures = self.admin.create_partitions([NewPartitions(topic_plan.name, topic_plan.partitions_to)])
            try:
                futures[topic_plan.name].result(timeout=self.timeout_s)
            except KafkaException as error:
                raise TopicConfigError(
                    f"adding partitions to topic {topic_plan.name!r} failed: {error.args[0].str()}"
                ) from error

    def end_offset_total(self, topic: str) -> int:
        """Sum of the topic's high watermarks: grows by one with every record written to it."""
        metadata = self.admin.list_topics(topic=topic, timeout=self.timeout_s)
        partitions = metadata.topics[topic].partitions
        request = {TopicPartition(topic, partition): OffsetSpec.latest() for partition in partitions}
        results = self.admin.list_offsets(request, request_timeout=self.timeout_s)
        return sum(future.result(timeout=self.timeout_s).offset for future in results.values())
