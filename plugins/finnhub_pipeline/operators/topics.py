"""Creates a Kafka topic, or brings an existing one to its configured settings (pipeline_bootstrap).

Safe changes (retention, compression, min.insync.replicas, more partitions) are applied; fewer partitions
or another replication factor fail with `TopicConfigError`. A second run changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

from finnhub_pipeline import topic_settings
from finnhub_pipeline.connections import KAFKA_CONN_ID
from finnhub_pipeline.hooks.topics import KafkaTopicsHook
from finnhub_pipeline.operators._arguments import as_int, from_env
from finnhub_pipeline.topic_settings import TopicSpec


class KafkaTopicOperator(BaseOperator):
    """Ensures one topic. Numbers may be templates (a `variables.Variable.template`); they are checked here.

    :param topic: topic name
    :param partitions: wanted partition count (never decreased)
    :param replication_factor: default: env KAFKA_REPLICATION_FACTOR, else 1
    :param retention_ms: `retention.ms`
    :param compression_type: `compression.type` ("producer" keeps the producer's codec)
    :param min_insync_replicas: default: replication factor - 1, at least 1
    :param extra_configs: more topic configs, Kafka's names
    """

    template_fields: Sequence[str] = (
        "topic",
        "partitions",
        "replication_factor",
        "retention_ms",
        "compression_type",
        "min_insync_replicas",
    )

    def __init__(
        self,
        *,
        topic: str,
        partitions: int | str = 3,
        replication_factor: int | str | None = None,
        retention_ms: int | str = 7 * 24 * 3600 * 1000,
        compression_type: str = "producer",
        min_insync_replicas: int | str | None = None,
        extra_configs: dict[str, str] | None = None,
        kafka_config_id: str = KAFKA_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.topic = topic
        self.partitions = partitions
        self.replication_factor = replication_factor
        self.retention_ms = retention_ms
        self.compression_type = compression_type
        self.min_insync_replicas = min_insync_replicas
        self.extra_configs = extra_configs or {}
        self.kafka_config_id = kafka_config_id

    def build_spec(self) -> TopicSpec:
        replication_factor = from_env(
            "replication_factor", self.replication_factor, "KAFKA_REPLICATION_FACTOR", 1
        )
        min_isr = (
            as_int("min_insync_replicas", self.min_insync_replicas, 1)
            if self.min_insync_replicas not in (None, "")
            else topic_settings.default_min_insync_replicas(replication_factor)
        )
        spec = TopicSpec(
            name=str(self.topic).strip(),
            partitions=as_int("partitions", self.partitions, 1),
            replication_factor=replication_factor,
            configs={
                "retention.ms": str(as_int("retention_ms", self.retention_ms, -1)),
                "compression.type": str(self.compression_type).strip(),
                "min.insync.replicas": str(min_isr),
                **{key: str(value) for key, value in self.extra_configs.items()},
            },
        )
        spec.validate()
        return spec

    def execute(self, context: Context) -> dict[str, Any]:
        spec = self.build_spec()
        hook = KafkaTopicsHook(kafka_config_id=self.kafka_config_id)
        live = hook.describe(spec.name)
        if live is None and hook.create(spec):
            self.log.info(
                "event=topic_created topic=%s partitions=%d rf=%d configs=%s",
                spec.name,
                spec.partitions,
                spec.replication_factor,
                dict(spec.configs),
            )
            return {"topic": spec.name, "created": True, "changes": {}}
        live = live or hook.describe(spec.name)
        assert live is not None
        plan = topic_settings.plan(spec, live)
        self.log.info("event=topic_checked %s", topic_settings.describe_plan(plan))
        if not plan.is_empty:
            hook.apply(plan)
        changes: dict[str, Any] = {key: list(values) for key, values in plan.config_changes.items()}
        if plan.partitions_to is not None:
            changes["partitions"] = [live.partitions, plan.partitions_to]
        return {"topic": spec.name, "created": False, "changes": changes}
