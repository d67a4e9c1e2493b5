"""`make alerts` (stack.alerts): the rows of firing alerts with their inhibited/silenced state, delivery
counts per integration from Alertmanager's metrics, and one line when Alertmanager does not answer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from stack import alerts

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def alert(name: str, fingerprint: str, severity: str, **extra: object) -> dict[str, object]:
    return {
        "fingerprint": fingerprint,
        "labels": {"alertname": name, "severity": severity, "component": "kafka", "instance": "b1:7071"},
        "annotations": {"summary": f"{name} summary"},
        "startsAt": "2026-01-01T11:47:30.123456789Z",
        "status": {"state": "active", "inhibitedBy": [], "silencedBy": [], **extra},
    }


def test_rows_show_severity_component_instance_age_state_and_summary_criticals_first() -> None:
    rows = alerts.alert_rows(
        [
            alert("KafkaUnderReplicatedPartitions", "w1", "warning", state="suppressed", inhibitedBy=["c1"]),
            alert("KafkaDown", "c1", "critical"),
        ],
        NOW,
    )

    assert rows == [
        (
            "KafkaDown",
            "critical",
            "kafka",
            "b1:7071",
            "2026-01-01 11:47Z (12m29s ago)",
            "active",
            "KafkaDown summary",
        ),
        (
            "KafkaUnderReplicatedPartitions",
            "warning",
            "kafka",
            "b1:7071",
            "2026-01-01 11:47Z (12m29s ago)",
            "inhibited by KafkaDown",
            "KafkaUnderReplicatedPartitions summary",
        ),
    ]


def test_a_silenced_alert_names_its_silence() -> None:
    (row,) = alerts.alert_rows([alert("KafkaDown", "c1", "critical", silencedBy=["abc-123"])], NOW)

    assert row[5] == "silenced (abc-123)"


METRICS = """\
# HELP alertmanager_notifications_failed_total The total number of failed notifications.
# TYPE alertmanager_notifications_failed_total counter
alertmanager_notifications_failed_total{integration="email"} 0
alertmanager_notifications_failed_total{integration="slack"} 3
alertmanager_notifications_failed_total{integration="webhook"} 0
# HELP alertmanager_notifications_total The total number of attempted notifications.
# TYPE alertmanager_notifications_total counter
alertmanager_notifications_total{integration="email"} 0
alertmanager_notifications_total{integration="slack"} 5
alertmanager_notifications_total{integration="webhook"} 5
"""


def test_deliveries_count_sent_and_failed_notifications_per_integration() -> None:
    found = {d.integration: (d.notifications, d.failed) for d in alerts.deliveries(METRICS)}

    assert found["slack"] == (5, 3)
    assert found["webhook"] == (5, 0)


def test_receivers_list_their_integrations() -> None:
    config = "receivers:\n- name: team\n  webhook_configs: [{url: 'http://x'}]\n  slack_configs: [{}]\n"

    assert alerts.receivers(config) == {"team": ["slack", "webhook"]}


def test_an_unreachable_alertmanager_is_one_error_line_and_status_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(alerts.RuntimeSettings.model_config, "env_file", None)

    status = alerts.main(["--alertmanager", "http://127.0.0.1:9"])

    err = capsys.readouterr().err
    assert status == 1
    assert err.startswith("error: Alertmanager does not answer (http://127.0.0.1:9/api/v2/alerts")
    assert err.count("\n") == 1
