"""Alerts reach people: a part of the live pipeline fails, and its alert arrives at an HTTP receiver that
speaks Slack's incoming-webhook format (the test's own, see conftest), then resolves after the repair.

Each wait is the alert's budget: its `for:`, two scrapes, one rule evaluation and the route's group_wait (or
group_interval for the resolution), plus a margin for a busy 2-core machine; the measured delay is printed.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from stack import health
from stack.airflow_api import AirflowApi
from stack.settings import RuntimeSettings
from stack.supervisor import Supervisor
from testkit.alerting import Message, route_timing, seconds
from testkit.promql import rules
from testkit.waiting import eventually
from tests.integration.monitoring.conftest import EVALUATION_INTERVAL_S, SCRAPE_INTERVAL_S, AlertingPair

MARGIN_S = 90.0
"""For a loaded 2-core machine: scrapes and evaluations that run late, Alertmanager's first flush."""
FAILING_RANGE = {"start": "not-a-time", "end": "not-a-time"}
"""reconciliation's params: a malformed range fails its task at once, without a retry."""


def _rule(alertname: str) -> dict[str, Any]:
    (rule,) = [r for r in rules() if r.get("alert") == alertname]
    return rule


def firing_budget(alertname: str) -> float:
    rule = _rule(alertname)
    wait = route_timing(rule["labels"]["severity"])["group_wait"]
    return seconds(rule["for"]) + 2 * SCRAPE_INTERVAL_S + EVALUATION_INTERVAL_S + wait + MARGIN_S


def resolved_budget(alertname: str) -> float:
    interval = route_timing(_rule(alertname)["labels"]["severity"])["group_interval"]
    return 2 * SCRAPE_INTERVAL_S + EVALUATION_INTERVAL_S + interval + MARGIN_S


def slack_message(
    pair: AlertingPair, since: float, status: str, alertname: str, detail: str = ""
) -> Message | None:
    """The first Slack message after `since` whose title says `status` and `alertname` (and has `detail`)."""
    for message in pair.receiver.slack():
        title = " ".join(message.slack_titles)
        if (
            message.received >= since
            and title.startswith(f"[{status.upper()}")
            and f"] {alertname}" in title
            and detail in title + message.text
        ):
            return message
    return None


def wait_for_slack(
    pair: AlertingPair, since: float, status: str, alertname: str, budget_s: float, detail: str = ""
) -> Message:
    message = eventually(
        lambda: slack_message(pair, since, status, alertname, detail),
        budget_s,
        interval_s=2,
        what=f"Slack message {status} {alertname} {detail} within {budget_s:.0f} s",
    )
    assert isinstance(message, Message)
    print(f"{alertname} {status}: at the receiver {message.received - since:.0f} s after the change")
    return message


def webhook_alerts(pair: AlertingPair, since: float, alertname: str) -> list[dict[str, Any]]:
    return [
        alert
        for message in pair.receiver.webhook()
        if message.received >= since
        for alert in message.body.get("alerts", [])
        if alert["labels"].get("alertname") == alertname
    ]


def stack_alert_log_lines(
    runtime: RuntimeSettings, alertname: str, status: str, since_wall: float
) -> list[str]:
    """Lines of the stack's var/log/alerts.log about `alertname` in `status`, written after `since_wall`."""
    path: Path = runtime.var_dir / "log" / "alerts.log"
    lines = path.read_text().splitlines() if path.exists() else []
    return [
        line
        for line in lines
        if datetime.fromisoformat(json.loads(line)["received_at"]).timestamp() >= since_wall
        and any(
            alert["labels"]["alertname"] == alertname and alert["status"] == status
            for alert in json.loads(line)["alerts"]
        )
    ]


def _connected(runtime: RuntimeSettings) -> bool:
    health.producer_connected(runtime.producer_metrics_port)  # raises health.Unhealthy until it is
    return True


def test_a_stopped_producer_pages_slack_with_its_replica_and_resolves_after_the_restart(
    runtime: RuntimeSettings, supervisor: Supervisor, alerting_pair: AlertingPair
) -> None:
    (replica,) = runtime.producer_metrics_targets
    eventually(
        lambda: alerting_pair.query(f'up{{job="producer",instance="{replica}"}} == 1'),
        120,
        what="the test's Prometheus scrapes the producer",
    )
    stopped, stopped_wall = time.monotonic(), time.time()
    supervisor.stop_programs(["producer"])
    try:
        firing = wait_for_slack(
            alerting_pair, stopped, "firing", "ProducerDown", firing_budget("ProducerDown"), detail=replica
        )
    finally:
        supervisor.start_programs(["producer"])
        restarted = time.monotonic()
    eventually(lambda: _connected(runtime), 120, what="the producer connected again")

    assert "critical, producer" in firing.slack_titles[0]
    assert "/troubleshooting.md#producerdown" in firing.body["attachments"][0]["title_link"]
    # Named by its program (make status, var/log/producer.log) and its address.
    assert f"Producer replica producer ({replica}) has failed its scrapes" in firing.text
    (logged,) = {a["labels"]["instance"] for a in webhook_alerts(alerting_pair, stopped, "ProducerDown")}
    assert logged == replica  # the alert log webhook of the same receiver got it too
    # The stack's own Alertmanager delivered it to the stack's alert log as well.
    eventually(
        lambda: stack_alert_log_lines(runtime, "ProducerDown", "firing", stopped_wall),
        60,
        what="ProducerDown in var/log/alerts.log",
    )
    wait_for_slack(
        alerting_pair, restarted, "resolved", "ProducerDown", resolved_budget("ProducerDown"), replica
    )


def test_a_failed_dag_run_alerts_with_the_dags_name(
    runtime: RuntimeSettings, alerting_pair: AlertingPair
) -> None:
    already = [
        a for a in alerting_pair.firing("AirflowDagRunFailed") if a["labels"]["dag_id"] == "reconciliation"
    ]
    started = time.monotonic()

    # The scheduler runs it (and sends airflow.dagrun.duration.failed.reconciliation to statsd_exporter).
    state = AirflowApi(runtime).run_to_completion("reconciliation", timeout_s=1800, conf=FAILING_RANGE)

    assert state == "failed"
    since = 0.0 if already else started  # an earlier failure of this session already sent its message
    message = wait_for_slack(
        alerting_pair,
        since,
        "firing",
        "AirflowDagRunFailed",
        firing_budget("AirflowDagRunFailed"),
        "reconciliation",
    )
    assert "A run of DAG reconciliation failed" in message.text
    assert "warning, airflow" in message.slack_titles[0]


@pytest.mark.faults
def test_a_stopped_cassandra_pages_slack_and_resolves_once_it_is_healthy_again(
    runtime: RuntimeSettings, supervisor: Supervisor, alerting_pair: AlertingPair
) -> None:
    instance = f"127.0.0.1:{runtime.cassandra_jmx_exporter_port}"
    stopped = time.monotonic()
    supervisor.stop_programs(["cassandra"])
    try:
        firing = wait_for_slack(
            alerting_pair, stopped, "firing", "CassandraDown", firing_budget("CassandraDown"), instance
        )
    finally:
        # Down as short as possible: restarted the moment the page arrived (or the wait failed).
        supervisor.start_programs(["cassandra"])
        restarted = time.monotonic()
    eventually(lambda: health.cassandra_query(runtime), 300, interval_s=5, what="Cassandra answers CQL again")

    assert "critical, cassandra" in firing.slack_titles[0]
    # The node's JMX exporter answers as soon as its JVM runs, before CQL does: the resolution may come
    # before Cassandra is healthy, so it is looked for from the restart on.
    wait_for_slack(
        alerting_pair, restarted, "resolved", "CassandraDown", resolved_budget("CassandraDown"), instance
    )
