"""Airflow's StatsD metrics through statsd_exporter (monitoring/statsd/mapping.yml) into Prometheus.

The scheduler's heartbeat, DAG run durations, the task failure counter and the ttl_audit gauges, each
queried from Prometheus, not from the exporter: the test covers the whole path a dashboard reads.
"""

from __future__ import annotations

import socket
import subprocess

import pytest

from services.layout import ROOT
from stack.airflow_api import AirflowApi
from stack.settings import RuntimeSettings
from testkit.waiting import eventually
from tests.integration.runtime.test_monitoring import prometheus_query

# Prometheus scrapes every 15 s and the exporter only learns a name when Airflow first sends it.
METRIC_TIMEOUT_S = 180


def _value(runtime: RuntimeSettings, promql: str) -> float | None:
    result = prometheus_query(runtime, promql)
    return float(result[0]["value"][1]) if result else None


def _send_statsd(runtime: RuntimeSettings, line: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(line.encode(), ("127.0.0.1", runtime.statsd_exporter_udp_port))


@pytest.fixture(scope="module")
def airflow(runtime: RuntimeSettings) -> AirflowApi:
    return AirflowApi(runtime)


def test_airflow_components_read_airflow_cfg_even_from_a_unit_test_environment(
    runtime: RuntimeSettings,
) -> None:
    # pytest's plugin tests set AIRFLOW__CORE__UNIT_TEST_MODE=True; a stack started from that pytest
    # process passes it to every component, and Airflow then ignores airflow.cfg ([metrics] included).
    env_file = runtime.var_dir / "run" / "airflow" / "airflow.env"
    with_env = [str(ROOT / "deploy/local/bin/with-env"), str(env_file), str(ROOT / ".venv/bin/airflow")]
    result = subprocess.run(
        [*with_env, "config", "get-value", "metrics", "statsd_on"],
        env={"PATH": "/usr/bin:/bin", "AIRFLOW__CORE__UNIT_TEST_MODE": "True"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "True"


def test_scheduler_heartbeat_counts_up_in_prometheus(runtime: RuntimeSettings) -> None:
    query = 'airflow_scheduler_heartbeat_total{job="statsd-exporter"}'
    first = eventually(lambda: _value(runtime, query), METRIC_TIMEOUT_S, interval_s=3, what=query)

    eventually(
        lambda: (_value(runtime, query) or 0) > float(str(first)),
        90,
        interval_s=5,
        what=f"{query} above {first} (the scheduler heartbeats every few seconds)",
    )


def test_a_finished_dag_run_adds_to_its_duration_histogram(
    runtime: RuntimeSettings, airflow: AirflowApi
) -> None:
    query = 'airflow_dagrun_duration_seconds_count{dag_id="pipeline_bootstrap",state="success"}'
    before = _value(runtime, query) or 0.0

    assert airflow.run_to_completion("pipeline_bootstrap", timeout_s=600) == "success"

    eventually(
        lambda: (_value(runtime, query) or 0.0) > before,
        METRIC_TIMEOUT_S,
        interval_s=5,
        what=f"{query} above {before} after a successful run",
    )
    seconds = _value(runtime, query.replace("_count", "_sum"))
    assert seconds is not None and seconds > 0


def test_task_failure_counter_is_exposed_under_its_mapped_name(runtime: RuntimeSettings) -> None:
    # Airflow sends airflow.ti_failures on each failed try (the kill -9 fault test makes a real one and
    # checks it counts); a zero increment makes the exporter expose the family without counting a failure.
    _send_statsd(runtime, "airflow.ti_failures:0|c")
    query = 'airflow_task_failures_total{job="statsd-exporter"}'

    value = eventually(lambda: prometheus_query(runtime, query), METRIC_TIMEOUT_S, interval_s=5, what=query)

    assert value
    assert prometheus_query(runtime, '{__name__="airflow_ti_failures", job="statsd-exporter"}') == []


def test_ttl_audit_gauges_reach_prometheus_with_keyspace_and_table_labels(
    runtime: RuntimeSettings, unique_name: str
) -> None:
    # What TtlAuditOperator sends, for a keyspace of this test only (zero violations: no alert fires).
    _send_statsd(runtime, f"airflow.ttl_audit.{unique_name}.trades_v2.violations:0|g")
    _send_statsd(runtime, f"airflow.ttl_audit.{unique_name}.trades_v2.rows_sampled:250|g")

    sampled = eventually(
        lambda: _value(
            runtime, f'airflow_ttl_audit_rows_sampled{{keyspace="{unique_name}",table="trades_v2"}}'
        ),
        METRIC_TIMEOUT_S,
        interval_s=5,
        what=f"airflow_ttl_audit_rows_sampled of {unique_name}.trades_v2",
    )
    violations = _value(
        runtime, f'airflow_ttl_audit_violations{{keyspace="{unique_name}",table="trades_v2"}}'
    )

    assert sampled == 250.0
    assert violations == 0.0
