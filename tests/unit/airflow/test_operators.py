"""Operators check their arguments and delegate to hooks; the hooks (and the classes built on them) are
replaced by fakes here."""

from __future__ import annotations

from typing import ClassVar

import pytest

from finnhub_pipeline.exceptions import TopicConfigError, TtlViolationError
from finnhub_pipeline.nodetool_output import TableStats
from finnhub_pipeline.operators import compaction, topics, ttl_audit
from finnhub_pipeline.topic_settings import LiveTopic, TopicPlan, TopicSpec
from finnhub_pipeline.ttl_policy import SampledCell


class FakeTopicsHook:
    topics: ClassVar[dict[str, LiveTopic]] = {}
    created: ClassVar[list[TopicSpec]] = []
    applied: ClassVar[list[TopicPlan]] = []

    def __init__(self, kafka_config_id: str) -> None:
        self.kafka_config_id = kafka_config_id

    def describe(self, topic: str) -> LiveTopic | None:
        return self.topics.get(topic)

    def create(self, spec: TopicSpec) -> bool:
        self.created.append(spec)
        return True

    def apply(self, plan: TopicPlan) -> None:
        self.applied.append(plan)


@pytest.fixture
def fake_topics(monkeypatch: pytest.MonkeyPatch) -> type[FakeTopicsHook]:
    FakeTopicsHook.topics, FakeTopicsHook.created, FakeTopicsHook.applied = {}, [], []
    monkeypatch.setattr(topics, "KafkaTopicsHook", FakeTopicsHook)
    return FakeTopicsHook


def test_a_missing_topic_is_created_with_rf_from_the_environment(
    fake_topics: type[FakeTopicsHook], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_REPLICATION_FACTOR", "3")
    operator = topics.KafkaTopicOperator(task_id="t", topic="trades", partitions="6", retention_ms="1000")
    assert operator.execute({}) == {"topic": "trades", "created": True, "changes": {}}
    (spec,) = fake_topics.created
    assert (spec.partitions, spec.replication_factor) == (6, 3)
    assert spec.configs == {
        "retention.ms": "1000",
        "compression.type": "producer",
        "min.insync.replicas": "2",
    }


def test_an_existing_topic_gets_only_its_differing_configs(
    fake_topics: type[FakeTopicsHook], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KAFKA_REPLICATION_FACTOR", raising=False)
    fake_topics.topics["trades"] = LiveTopic(
        "trades", 3, 1, {"retention.ms": "5", "compression.type": "producer", "min.insync.replicas": "1"}
    )
    result = topics.KafkaTopicOperator(task_id="t", topic="trades", retention_ms=10).execute({})
    assert result == {"topic": "trades", "created": False, "changes": {"retention.ms": ["5", "10"]}}
    assert [dict(p.config_changes) for p in fake_topics.applied] == [{"retention.ms": ("5", "10")}]


def test_a_topic_with_more_partitions_than_configured_fails(fake_topics: type[FakeTopicsHook]) -> None:
    fake_topics.topics["trades"] = LiveTopic("trades", 12, 1, {})
    with pytest.raises(TopicConfigError, match="has 12 partitions, configured 3"):
        topics.KafkaTopicOperator(task_id="t", topic="trades", replication_factor=1).execute({})
    assert fake_topics.applied == []


def test_a_non_numeric_templated_partition_count_fails_naming_the_argument(
    fake_topics: type[FakeTopicsHook],
) -> None:
    with pytest.raises(ValueError, match="partitions must be an integer, got 'three'"):
        topics.KafkaTopicOperator(task_id="t", topic="trades", partitions="three").execute({})


class FakeCassandra:
    def __init__(self, conn_id: str) -> None:
        self.conn_id = conn_id

    def __enter__(self) -> FakeCassandra:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class FakeTtlSampler:
    default_ttls: ClassVar[dict[str, int]] = {}
    cells: ClassVar[dict[str, list[SampledCell]]] = {}

    def __init__(self, cassandra: FakeCassandra, keyspace: str) -> None:
        self.keyspace = keyspace

    def default_ttl(self, table: str) -> int:
        return self.default_ttls[table]

    def sample(self, table: str, size: int, column: str | None = None) -> list[SampledCell]:
        return self.cells[table][:size]


@pytest.fixture
def fake_ttl(monkeypatch: pytest.MonkeyPatch) -> type[FakeTtlSampler]:
    monkeypatch.setattr(ttl_audit, "PipelineCassandraHook", FakeCassandra)
    monkeypatch.setattr(ttl_audit, "TtlSampler", FakeTtlSampler)
    gauges: list[tuple[str, float]] = []
    monkeypatch.setattr(ttl_audit.Stats, "gauge", lambda name, value, *a, **k: gauges.append((name, value)))
    FakeTtlSampler.gauges = gauges  # type: ignore[attr-defined]
    return FakeTtlSampler


def test_ttl_audit_passes_and_reports_sampled_rows(fake_ttl: type[FakeTtlSampler]) -> None:
    import time

    now_us = int(time.time() * 1_000_000)
    fake_ttl.default_ttls = {"t": 100}
    fake_ttl.cells = {"t": [SampledCell("k1", 90, now_us), SampledCell("k2", 50, now_us)]}
    result = ttl_audit.TtlAuditOperator(task_id="a", keyspace="ks", policy={"t": 100}).execute({})
    assert result == {"keyspace": "ks", "sampled": {"t": 2}, "violations": {}}
    assert ("ttl_audit.ks.t.violations", 0) in fake_ttl.gauges  # type: ignore[attr-defined]


def test_ttl_audit_fails_on_a_row_without_ttl_and_still_reports_metrics(
    fake_ttl: type[FakeTtlSampler],
) -> None:
    import time

    now_us = int(time.time() * 1_000_000)
    fake_ttl.default_ttls = {"t": 100}
    fake_ttl.cells = {"t": [SampledCell("(id=7)", None, now_us)]}
    with pytest.raises(TtlViolationError, match=r"(?s)1 violation.*t: no_ttl: row \(id=7\) has no TTL"):
        ttl_audit.TtlAuditOperator(task_id="a", keyspace="ks", policy={"t": 100}).execute({})
    assert ("ttl_audit.ks.t.violations", 1) in fake_ttl.gauges  # type: ignore[attr-defined]


def test_ttl_audit_refuses_a_non_positive_policy(fake_ttl: type[FakeTtlSampler]) -> None:
    with pytest.raises(ValueError, match="positive TTL"):
        ttl_audit.TtlAuditOperator(task_id="a", policy={"t": 0}).execute({})


class FakeNodetool:
    calls: ClassVar[list[tuple[str, ...]]] = []

    def __init__(self, cassandra_conn_id: str) -> None:
        assert cassandra_conn_id == "cassandra_default"
        self.sstables = 5

    def tablestats(self, keyspace: str, table: str) -> TableStats:
        self.calls.append(("tablestats", keyspace, table))
        return TableStats(keyspace, table, self.sstables, 1000 * self.sstables, 1000 * self.sstables, 0, 3)

    def garbagecollect(self, keyspace: str, table: str) -> None:
        self.calls.append(("garbagecollect", keyspace, table))

    def compact(self, keyspace: str, table: str) -> None:
        self.calls.append(("compact", keyspace, table))
        self.sstables = 1


def test_compaction_runs_stats_gc_compact_stats_and_returns_both(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeNodetool.calls = []
    monkeypatch.setattr(compaction, "NodetoolHook", FakeNodetool)
    report = compaction.CassandraCompactionOperator(task_id="c", keyspace="ks", tables=["t"]).execute({})
    assert FakeNodetool.calls == [
        ("tablestats", "ks", "t"),
        ("garbagecollect", "ks", "t"),
        ("compact", "ks", "t"),
        ("tablestats", "ks", "t"),
    ]
    assert report["t"]["before"]["sstable_count"] == 5
    assert report["t"]["after"]["sstable_count"] == 1


def test_compaction_refuses_a_table_name_that_is_not_an_identifier(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compaction, "NodetoolHook", FakeNodetool)
    with pytest.raises(ValueError, match="not a plain CQL identifier"):
        compaction.CassandraCompactionOperator(task_id="c", tables=["t; DROP"]).execute({})
