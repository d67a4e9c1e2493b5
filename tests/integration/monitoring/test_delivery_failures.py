"""Slack answering 500: Alertmanager retries, counts the failure (alertmanager_notifications_failed_total by
integration) and `make alerts` shows it, while the local alert log keeps getting every notification and the
message reaches Slack once it answers again. A real Alertmanager with the runtime's rendered config; no stack.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stack import alerting, alerts
from stack.settings import RuntimeSettings
from testkit.alerting import (
    Receiver,
    post_alerts,
    route_timing,
    running_alertmanager,
    write_config,
)
from testkit.waiting import eventually

ALERT = {
    "labels": {
        "alertname": "KafkaDown",
        "severity": "critical",
        "component": "kafka",
        "job": "kafka",
        "instance": "127.0.0.1:7071",
    },
    "annotations": {"summary": "Kafka broker is not scraped.", "description": "d", "runbook_url": "u"},
}


@pytest.fixture
def failing_slack(tmp_path: Path) -> Iterator[tuple[str, Receiver]]:
    """An Alertmanager whose Slack answers 500 (its alert log webhook answers 200)."""
    receiver = Receiver()
    receiver.slack_status = 500
    settings = RuntimeSettings(
        var_dir=tmp_path, alert_log_port=receiver.port, slack_webhook_url=receiver.slack_url
    )
    config = write_config(tmp_path / "am", alerting.render_local(settings))
    try:
        with running_alertmanager(config, tmp_path / "data") as base:
            yield base, receiver
    finally:
        receiver.close()


def _slack_failures(base: str) -> int:
    metrics = alerts._get(f"{base}/metrics").decode()
    return sum(d.failed for d in alerts.deliveries(metrics) if d.integration == "slack")


def test_a_failing_slack_is_retried_counted_and_shown_while_the_alert_log_still_gets_it(
    failing_slack: tuple[str, Receiver], tmp_path: Path
) -> None:
    base, receiver = failing_slack

    post_alerts(base, [ALERT])

    eventually(lambda: receiver.webhook(), 60, what="the alert log webhook got the notification")
    # Alertmanager retries a notification until the route's next group interval, and counts it as failed
    # when it gives up (then tries again at that flush).
    budget = route_timing("critical")["group_interval"] + 60
    eventually(lambda: _slack_failures(base) > 0, budget, what="a failed Slack notification counted")
    report = "\n".join(alerts.report(base, tmp_path / "alerts.log"))
    assert "KafkaDown" in report and "critical" in report and "127.0.0.1:7071" in report
    assert "delivery failures: slack" in report

    receiver.slack_status = 200  # Slack is back: Alertmanager's retry gets the message through
    eventually(lambda: receiver.slack(), budget, what="the retried Slack message")
    assert "[FIRING:1] KafkaDown on 127.0.0.1:7071 (critical, kafka)" in receiver.slack()[0].slack_titles
