"""Prometheus of the local runtime scrapes the engines' JMX exporters; Alertmanager answers; every dashboard
panel has data and every metric an alert or recording rule reads exists while the pipeline runs."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from datetime import datetime
from typing import Any

from stack.airflow_api import AirflowApi
from stack.settings import RuntimeSettings
from testkit.promql import metric_names, panel_queries, rules
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


# --- every dashboard panel and every metric a rule reads, on the live Prometheus ----------------------------
FAILURE_ONLY = {
    # Counters with a label: the client library has no series before the first labelled increment.
    "kafka_delivery_failures_total": "producer, by topic: from the first record Kafka refuses",
    "finnhub_server_errors_total": "producer, by message: from Finnhub's first error message",
    "producer_validation_errors_total": "producer, by reason: from the first rejected frame or trade",
    "spark_stream_dead_letters_total": "Spark job, by reason: from the first dead-lettered record",
    "spark_stream_write_failures_total": "Spark job, by table: from the first failed Cassandra write",
    # A recording rule that is only a series while a DAG run failed within the last minute.
    "airflow:dagrun_failures:new1m": "recorded only while a DAG run failed in the last minute",
}
"""Metrics a rule reads that exist only once the failure they count has happened (so a healthy pipeline
has none): their alerts are tested by promtool and, for DAG runs, live in tests/integration/monitoring."""
AFTER_FIRST_DAG_RUN = {"airflow_ttl_audit_": "ttl_audit", "airflow_reconciliation_": "reconciliation"}
"""Gauges a maintenance DAG sends at the end of each run: they exist from its first run that ended after
statsd_exporter (re)started."""
PIPELINE_METRICS_TIMEOUT_S = 300
"""The Spark job's first batches after a fresh `make up` (its metrics come with them) on 2 busy cores."""


def _has_series(runtime: RuntimeSettings, promql: str) -> bool:
    return bool(prometheus_query(runtime, promql))


def test_every_grafana_panel_query_returns_a_series_while_the_pipeline_runs(runtime: RuntimeSettings) -> None:
    queries = list(panel_queries())

    def dead_panels() -> list[str]:
        return [f"{title}: {expr}" for title, expr in queries if not _has_series(runtime, expr)]

    eventually(lambda: not dead_panels(), PIPELINE_METRICS_TIMEOUT_S, 10, what="every panel has data")
    assert len(queries) >= 20 and dead_panels() == []


def test_every_metric_an_alert_or_recording_rule_reads_exists(runtime: RuntimeSettings) -> None:
    finished = _dags_with_a_finished_run(runtime)
    names = {name for rule in rules() for name in metric_names(str(rule["expr"]))}
    required = {
        name
        for name in names - set(FAILURE_ONLY)
        if all(not name.startswith(p) or dag in finished for p, dag in AFTER_FIRST_DAG_RUN.items())
    }

    def missing() -> list[str]:
        return sorted(n for n in required if not _has_series(runtime, f'count({{__name__="{n}"}})'))

    eventually(lambda: not missing(), PIPELINE_METRICS_TIMEOUT_S, 10, what="every metric the rules read")
    assert set(FAILURE_ONLY) <= names, "a FAILURE_ONLY entry no rule reads any more: remove it"
    # The rules' own names, not the ones required so far: how many maintenance DAGs have run depends on
    # which suites ran before this one.
    assert len(names) > 20 and missing() == []


def _dags_with_a_finished_run(runtime: RuntimeSettings) -> set[str]:
    """The maintenance DAGs with a run whose task succeeded after statsd_exporter started (it forgets on
    restart)."""
    (exporter,) = prometheus_query(runtime, 'process_start_time_seconds{job="statsd-exporter"}')
    exporter_start = float(exporter["value"][1])
    api = AirflowApi(runtime)
    finished = set()
    for dag_id in AFTER_FIRST_DAG_RUN.values():
        runs = api.get(f"/api/v2/dags/{dag_id}/dagRuns?order_by=-end_date&limit=20")["dag_runs"]
        for run in runs:
            if (
                not run.get("end_date")
                or datetime.fromisoformat(run["end_date"]).timestamp() <= exporter_start
            ):
                continue
            # A task that succeeded sent its gauges; a skipped one (reconciliation with no complete hour to
            # check yet, on a fresh stack) sent none per symbol.
            tasks = api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances")
            if any(task["state"] == "success" for task in tasks["task_instances"]):
                finished.add(dag_id)
                break
    return finished
