"""Desired Kafka topic settings and the plan that brings an existing topic to them (pure, no client).

`hooks/topics.py` describes the live topic and applies the plan; config keys are Kafka's own names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from finnhub_pipeline.exceptions import TopicConfigError

COMPRESSION_TYPES = ("producer", "uncompressed", "gzip", "snappy", "lz4", "zstd")


@dataclass(frozen=True)
class TopicSpec:
    """What a topic should look like."""

    name: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str] = field(default_factory=dict)  # e.g. {"retention.ms": "604800000"}

    def validate(self) -> None:
        problems = []
        if not self.name:
            problems.append("topic name is empty")
        if self.partitions < 1:
            problems.append(f"partitions must be >= 1, got {self.partitions}")
        if self.replication_factor < 1:
            problems.append(f"replication factor must be >= 1, got {self.replication_factor}")
        min_isr = self.configs.get("min.insync.replicas")
        if min_isr is not None and not 1 <= int(min_isr) <= self.replication_factor:
            problems.append(
                f"min.insync.replicas={min_isr} must be between 1 and the replication factor "
                f"{self.replication_factor} (or no write with acks=all could ever succeed)"
            )
        compression = self.configs.get("compression.type")
        if compression is not None and compression not in COMPRESSION_TYPES:
            problems.append(f"compression.type={compression!r} is not one of {', '.join(COMPRESSION_TYPES)}")
        if problems:
            raise ValueError(f"topic {self.name!r}: " + "; ".join(problems))


@dataclass(frozen=True)
class LiveTopic:
    """What Kafka reports for an existing topic."""

    name: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str]


@dataclass(frozen=True)
class TopicPlan:
    """The changes that make a live topic match its spec; empty when it already does."""

    name: str
    config_changes: Mapping[str, tuple[str | None, str]]  # key -> (live value, desired value)
    partitions_to: int | None = None

    @property
    def is_empty(self) -> bool:
        return not self.config_changes and self.partitions_to is None


def default_min_insync_replicas(replication_factor: int) -> int:
    """One replica may be down without blocking acks=all writes: RF 3 -> 2, RF 1 or 2 -> 1."""
    return max(1, replication_factor - 1)


def plan(spec: TopicSpec, live: LiveTopic) -> TopicPlan:
    """Safe changes only: configs and more partitions. Fewer partitions or another RF fail readably."""
    problems: list[str] = []
    if live.partitions > spec.partitions:
        problems.append(
            f"has {live.partitions} partitions, configured {spec.partitions}: Kafka cannot remove "
            "partitions; raise the setting to match, or recreate the topic (deletes its records)"
        )
    if live.replication_factor != spec.replication_factor:
        problems.append(
            f"has replication factor {live.replication_factor}, configured {spec.replication_factor}: "
            "change it with a partition reassignment (kafka-reassign-partitions), not here"
        )
    if problems:
        raise TopicConfigError(f"topic {spec.name!r} " + "; ".join(problems))
    changes = {
        key: (live.configs.get(key), value)
        for key, value in sorted(spec.configs.items())
        if live.configs.get(key) != value
    }
    partitions_to = spec.partitions if spec.partitions > live.partitions else None
    return TopicPlan(spec.name, changes, partitions_to)


def describe_plan(topic_plan: TopicPlan) -> str:
    if topic_plan.is_empty:
        return f"topic {topic_plan.name!r} already matches its settings"
    parts = [f"{key}: {old} -> {new}" for key, (old, new) in topic_plan.config_changes.items()]
    if topic_plan.partitions_to is not None:
        parts.append(f"partitions -> {topic_plan.partitions_to}")
    return f"topic {topic_plan.name!r}: " + ", ".join(parts)
