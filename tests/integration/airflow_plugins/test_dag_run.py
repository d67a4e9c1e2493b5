"""The operators run inside Airflow's task runtime (Task SDK: templates, Variables, XCom), not only as
plain objects: a throw-away DAG over fresh names is run with `dag.test()` in a separate process with its
own metadata database, so nothing of the live Airflow is touched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from finnhub_pipeline.hooks.topics import KafkaTopicsHook

ROOT = Path(__file__).resolve().parents[3]

PROBE_DAG = """
import os
from datetime import UTC, datetime

from airflow.sdk import DAG

from finnhub_pipeline.operators.compaction import CassandraCompactionOperator
from finnhub_pipeline.operators.migrations import CqlMigrationsOperator
from finnhub_pipeline.operators.schema import SchemaDriftCheckOperator
from finnhub_pipeline.operators.topics import KafkaTopicOperator
from finnhub_pipeline.operators.ttl_audit import TtlAuditOperator

keyspace = os.environ["PROBE_KEYSPACE"]
with DAG("probe", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC), default_args={"retries": 0}):
    KafkaTopicOperator(
        task_id="topic", topic=os.environ["PROBE_TOPIC"],
        partitions="{{ var.value.get('probe_partitions', 5) }}",
    )
    migrate = CqlMigrationsOperator(
        task_id="migrate", migrations_dir=os.environ["PROBE_CQL"], keyspace=keyspace
    )
    check = SchemaDriftCheckOperator(task_id="check", keyspace=keyspace)
    audit = TtlAuditOperator(task_id="audit", keyspace=keyspace, sample_size="{{ var.value.get('x', 10) }}")
    compact = CassandraCompactionOperator(task_id="compact", keyspace=keyspace, tables=["trades_v2"])
    migrate >> check >> audit >> compact
"""

RUNNER = """
import json, subprocess, sys
subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
from airflow.dag_processing.dagbag import DagBag
dag = DagBag(dag_folder=sys.argv[1]).dags["probe"]
run = dag.test()
states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
print("PROBE_RESULT " + json.dumps({"run": str(run.state), "tasks": states}))
"""


def test_bootstrap_and_maintenance_operators_succeed_in_a_real_dag_run(
    fresh_keyspace: Callable[[str], str], unique_name: str, tmp_path: Path
) -> None:
    keyspace, topic = fresh_keyspace("run"), f"{unique_name}.probe"
    dags, home = tmp_path / "dags", tmp_path / "airflow-home"
    dags.mkdir()
    home.mkdir()
    (dags / "probe.py").write_text(PROBE_DAG)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW_VAR_PROBE_PARTITIONS": "2",
        "PROBE_KEYSPACE": keyspace,
        "PROBE_TOPIC": topic,
        "PROBE_CQL": str(ROOT / "sql" / "cql"),
    }
    try:
        result = subprocess.run(
            [sys.executable, "-c", RUNNER, str(dags)], env=env, capture_output=True, text=True, timeout=600
        )
        lines = [line for line in result.stdout.splitlines() if line.startswith("PROBE_RESULT ")]
        assert lines, (
            f"no result (exit {result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
        outcome: dict[str, Any] = json.loads(lines[-1].removeprefix("PROBE_RESULT "))
        assert outcome == {
            "run": "success",
            "tasks": dict.fromkeys(["audit", "check", "compact", "migrate", "topic"], "success"),
        }, result.stdout[-3000:]
        live = KafkaTopicsHook().describe(topic)
        assert live is not None and live.partitions == 2  # the Variable reached the operator
    finally:
        if KafkaTopicsHook().describe(topic) is not None:
            KafkaTopicsHook().delete_topic([topic])
