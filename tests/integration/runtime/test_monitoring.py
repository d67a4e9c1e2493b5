"""Prometheus of the local runtime scrapes the engines' JMX exporters; Alertmanager answers."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from typing import Any

from stack.settings import RuntimeSettings
from testkit.waiting import eventually
from tests.integration.runtime.test_kafka import create_topic, produce


def prometheus_query(runtime: RuntimeSettings, promql: str) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{runtime.prometheus_port}/api/v1/query?" + urllib.parse.urlencode(
        {"query": promql}
    )
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def test_every_scrape_target_is_up(runtime: RuntimeSettings) -> None:
    def jobs_up() -> set[str]:
        return {r["metric"]["job"] for r in prometheus_query(runtime, "up == 1")}

    expected = {"prometheus", "alertmanager", "kafka", "cassandra", "statsd-exporter"}
    eventually(lambda: expected <= jobs_up(), 90, what=f"jobs {expected} up")


def test_prometheus_has_kafka_broker_topic_messages_in_for_a_written_topic(
    runtime: RuntimeSettings, unique_name: str
) -> None:
    create_topic(runtime, unique_name)
    for _ in range(3):
        produce(runtime, unique_name, b"AAPL", b"{}")

    query = f'kafka_server_brokertopicmetrics_messagesin_total{{job="kafka",topic="{unique_name}"}} == 3'
    # A scrape may land between two of the writes; a later one sees all three.
    eventually(lambda: prometheus_query(runtime, query), 90, what=query)


def test_prometheus_has_cassandra_client_write_latency(
    runtime: RuntimeSettings, cassandra_session: Any
) -> None:
    cassandra_session.execute(
        "CREATE KEYSPACE IF NOT EXISTS monitoring_probe "
        "WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    cassandra_session.execute("CREATE TABLE IF NOT EXISTS monitoring_probe.t (k int PRIMARY KEY)")
    cassandra_session.execute("INSERT INTO monitoring_probe.t (k) VALUES (1)")

    query = 'cassandra_client_request_latency_seconds{job="cassandra",operation="Write",quantile="0.99"}'
    eventually(lambda: prometheus_query(runtime, query), 90, what=query)
    writes = eventually(
        lambda: prometheus_query(runtime, 'cassandra_client_request_total{operation="Write"} > 0'),
        90,
        what="a counted Cassandra write",
    )
    assert writes


def test_alertmanager_is_ready_and_prometheus_knows_it(runtime: RuntimeSettings) -> None:
    url = f"http://127.0.0.1:{runtime.prometheus_port}/api/v1/alertmanagers"
    with urllib.request.urlopen(url, timeout=10) as response:
        active = json.load(response)["data"]["activeAlertmanagers"]

    assert [a["url"] for a in active] == [f"http://127.0.0.1:{runtime.alertmanager_port}/api/v2/alerts"]
