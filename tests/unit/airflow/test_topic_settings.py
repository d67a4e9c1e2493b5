from __future__ import annotations

import pytest

from finnhub_pipeline import topic_settings
from finnhub_pipeline.exceptions import TopicConfigError
from finnhub_pipeline.topic_settings import LiveTopic, TopicSpec

SPEC = TopicSpec(
    "trades", 3, 1, {"retention.ms": "604800000", "compression.type": "producer", "min.insync.replicas": "1"}
)


def live(partitions: int = 3, rf: int = 1, **configs: str) -> LiveTopic:
    base = {
        "retention.ms": "604800000",
        "compression.type": "producer",
        "min.insync.replicas": "1",
        "cleanup.policy": "delete",
    }
    return LiveTopic(
        "trades", partitions, rf, {**base, **{k.replace("_", "."): v for k, v in configs.items()}}
    )


def test_a_matching_topic_needs_no_change() -> None:
    plan = topic_settings.plan(SPEC, live())
    assert plan.is_empty
    assert topic_settings.describe_plan(plan) == "topic 'trades' already matches its settings"


def test_differing_configs_are_altered_and_others_left_alone() -> None:
    plan = topic_settings.plan(SPEC, live(retention_ms="1000", compression_type="gzip"))
    assert dict(plan.config_changes) == {
        "compression.type": ("gzip", "producer"),
        "retention.ms": ("1000", "604800000"),
    }
    assert plan.partitions_to is None


def test_more_partitions_are_added() -> None:
    assert topic_settings.plan(SPEC, live(partitions=2)).partitions_to == 3


def test_fewer_partitions_fail_readably() -> None:
    with pytest.raises(
        TopicConfigError, match="has 6 partitions, configured 3: Kafka cannot remove partitions"
    ):
        topic_settings.plan(SPEC, live(partitions=6))


def test_another_replication_factor_fails_readably() -> None:
    with pytest.raises(TopicConfigError, match="replication factor 3, configured 1"):
        topic_settings.plan(SPEC, live(rf=3))


@pytest.mark.parametrize(("rf", "min_isr"), [(1, 1), (2, 1), (3, 2), (5, 4)])
def test_default_min_insync_replicas_tolerates_one_replica_down(rf: int, min_isr: int) -> None:
    assert topic_settings.default_min_insync_replicas(rf) == min_isr


def test_min_insync_replicas_above_replication_factor_is_refused() -> None:
    with pytest.raises(
        ValueError, match=r"min\.insync\.replicas=2 must be between 1 and the replication factor 1"
    ):
        TopicSpec("trades", 3, 1, {"min.insync.replicas": "2"}).validate()


def test_unknown_compression_is_refused() -> None:
    with pytest.raises(ValueError, match=r"compression\.type='brotli'"):
        TopicSpec("trades", 3, 1, {"compression.type": "brotli"}).validate()
