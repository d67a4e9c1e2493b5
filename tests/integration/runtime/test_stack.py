"""The local runtime's own promises: idempotent `up`, a status table, state only under var/."""

from __future__ import annotations

import time
from typing import Any

from stack.settings import RuntimeSettings
from stack.supervisor import Supervisor
from testkit.runtime import run_stack


def test_second_up_keeps_kafka_storage_pids_and_cassandra_rows(
    runtime: RuntimeSettings, supervisor: Supervisor, cassandra_session: Any, unique_name: str
) -> None:
    meta = runtime.var_dir / "data" / "kafka" / "meta.properties"
    meta_before = meta.read_text()
    pids_before = {name: state.pid for name, state in supervisor.programs().items()}
    cassandra_session.execute(
        f"CREATE KEYSPACE {unique_name} "
        "WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    cassandra_session.execute(f"CREATE TABLE {unique_name}.t (k int PRIMARY KEY)")
    cassandra_session.execute(f"INSERT INTO {unique_name}.t (k) VALUES (7)")

    started = time.monotonic()
    result = run_stack("up")
    took = time.monotonic() - started

    assert result.returncode == 0, result.stderr
    assert "formatted Kafka storage" not in result.stdout
    assert meta.read_text() == meta_before
    assert {name: state.pid for name, state in supervisor.programs().items()} == pids_before
    assert [row.k for row in cassandra_session.execute(f"SELECT k FROM {unique_name}.t")] == [7]
    print(f"second `stack up` on a healthy stack took {took:.1f} s")


def test_status_prints_a_row_per_service_with_pid_port_and_health(runtime: RuntimeSettings) -> None:
    result = run_stack("status")

    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    assert lines[0].split()[:5] == ["SERVICE", "STATE", "PID", "PORT", "HEALTH"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    for name, port in [("kafka", runtime.kafka_port), ("cassandra", runtime.cassandra_port)]:
        assert rows[name][1] == "RUNNING" and rows[name][2].isdigit()
        assert rows[name][3] == str(port) and rows[name][4] == "ok"
