"""Inhibition on a real Alertmanager (the Debian binary, on a free port, storage in tmp_path) with the
runtime's rendered config: a critical alert mutes only the warnings of its own component and instance."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from stack import alerting
from stack.settings import RuntimeSettings
from testkit.alerting import alerts, post_alerts, running_alertmanager, write_config
from testkit.waiting import eventually
from tests.unit.monitoring.test_prometheus_rules import alert_rules

RULES = {rule["alert"]: rule for _, rule in alert_rules()}


def firing(name: str, **labels: str) -> dict[str, Any]:
    """An alert as Prometheus sends it: the rule's own labels and annotations plus `labels`."""
    rule = RULES[name]
    return {
        "labels": {"alertname": name, **rule["labels"], **labels},
        "annotations": {"summary": rule["annotations"]["summary"]},
    }


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    settings = RuntimeSettings(var_dir=tmp_path)
    config = write_config(tmp_path / "am", alerting.render_local(settings))
    with running_alertmanager(config, tmp_path / "data") as base:
        yield base


def inhibited_by(base: str, control: tuple[str, str]) -> dict[tuple[str, str], list[str]]:
    """(alertname, instance) -> names of the alerts inhibiting it, once the `control` alert shows as
    inhibited (the inhibitor learns of source alerts asynchronously; after that every answer is final)."""

    def snapshot() -> dict[tuple[str, str], list[str]] | None:
        held = alerts(base)
        names = {a["fingerprint"]: a["labels"]["alertname"] for a in held}
        state = {
            (a["labels"]["alertname"], a["labels"].get("instance", "")): sorted(
                names[f] for f in a["status"]["inhibitedBy"]
            )
            for a in held
        }
        return state if state.get(control) else None

    return cast(dict[tuple[str, str], list[str]], eventually(snapshot, 30, 0.5, f"{control} inhibited"))


def test_a_critical_mutes_its_own_instance_warnings_only(alertmanager: str) -> None:
    post_alerts(
        alertmanager,
        [
            firing("KafkaDown", job="kafka", instance="broker-1:7071"),
            # Same component and instance: explained by KafkaDown.
            firing("KafkaUnderReplicatedPartitions", job="kafka", instance="broker-1:7071"),
            # Same component, another broker: news.
            firing("KafkaUnderReplicatedPartitions", job="kafka", instance="broker-2:7071"),
            # Another component on the same instance label value: news.
            firing("CassandraWriteLatencyHigh", job="cassandra", instance="broker-1:7071"),
        ],
    )

    state = inhibited_by(alertmanager, control=("KafkaUnderReplicatedPartitions", "broker-1:7071"))

    assert len(state) == 4
    assert state[("KafkaUnderReplicatedPartitions", "broker-1:7071")] == ["KafkaDown"]
    assert state[("KafkaUnderReplicatedPartitions", "broker-2:7071")] == []
    assert state[("CassandraWriteLatencyHigh", "broker-1:7071")] == []
    assert state[("KafkaDown", "broker-1:7071")] == []


def test_a_critical_without_instance_does_not_mute_other_components_warnings(alertmanager: str) -> None:
    # The case: KafkaNoActiveController (no instance label) used to mute StreamLagHigh and
    # CassandraTtlViolations, which lack the label too.
    post_alerts(
        alertmanager,
        [
            firing("KafkaNoActiveController"),
            firing("StreamLagHigh"),
            firing("CassandraTtlViolations", keyspace="trading", table="trades_v2"),
            firing("StreamDown", job="spark_stream"),  # no target: no instance either
        ],
    )

    state = inhibited_by(alertmanager, control=("StreamLagHigh", ""))

    assert len(state) == 4
    assert state[("StreamLagHigh", "")] == ["StreamDown"]  # the job's absence explains its lag
    assert state[("CassandraTtlViolations", "")] == []
    assert state[("KafkaNoActiveController", "")] == []
