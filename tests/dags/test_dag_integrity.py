"""Every DAG in dags/ imports cleanly, quickly, and carries the house rules; the stream supervisor's
SparkSubmitOperator is wired as intended (checked on the task object, Spark never runs).

Airflow 3.3's DagBag has no `include_examples` argument: examples are a separate bundle and never load here.
"""

from __future__ import annotations

import ast
import importlib.util
import time
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import DAG
from airflow.serialization.serialized_objects import DagSerialization

from finnhub_pipeline.sensors.spark_health import SparkStreamHealthSensor

ROOT = Path(__file__).resolve().parents[2]
DAGS_FOLDER = ROOT / "dags"
DAG_FILES = sorted(DAGS_FOLDER.glob("*.py"))
EXPECTED_DAGS = {
    "pipeline_bootstrap",
    "stream_supervisor",
    "cassandra_compaction",
    "cassandra_backup",
    "ttl_audit",
}
IMPORT_LIMIT_S = 2.0


@pytest.fixture(scope="module")
def dag_bag() -> DagBag:
    return DagBag(dag_folder=str(DAGS_FOLDER))


def test_every_dag_file_imports_without_error(dag_bag: DagBag) -> None:
    assert dag_bag.import_errors == {}, "\n".join(f"{f}: {e}" for f, e in dag_bag.import_errors.items())


def test_the_five_pipeline_dags_are_found(dag_bag: DagBag) -> None:
    assert set(dag_bag.dags) == EXPECTED_DAGS


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_imports_within_time_limit(path: Path) -> None:
    # Plugins and providers are warm after the DagBag fixture; this measures the file's own work.
    DagBag(dag_folder=str(path))
    spec = importlib.util.spec_from_file_location(f"timed_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    started = time.perf_counter()
    spec.loader.exec_module(module)
    elapsed = time.perf_counter() - started
    assert elapsed < IMPORT_LIMIT_S, f"{path.name} took {elapsed:.2f} s to import"


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_reads_no_variable_or_environment_at_module_level(path: Path) -> None:
    tree = ast.parse(path.read_text())
    offending = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv"}:
            offending.append(f"line {node.lineno}: os.{node.attr}")
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "get"
            and getattr(node.value, "id", "") == "Variable"
        ):
            offending.append(f"line {node.lineno}: Variable.get")
    assert not offending, f"{path.name} reads configuration at parse time: {offending}"


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_DAGS))
def test_dag_follows_house_rules(dag_bag: DagBag, dag_id: str) -> None:
    dag: DAG = dag_bag.dags[dag_id]
    assert dag.tags, f"{dag_id} has no tags"
    assert dag.doc_md and dag_id in dag.doc_md, f"{dag_id} has no doc_md naming it"
    assert dag.default_args.get("owner") not in (None, "", "airflow"), f"{dag_id} has no owner"
    assert dag.default_args.get("retries", 0) >= 2, f"{dag_id} default_args retries < 2"
    for task in dag.tasks:
        assert task.retries >= 2, f"{dag_id}.{task.task_id} retries {task.retries} < 2"
        assert task.owner not in (None, "", "airflow"), f"{dag_id}.{task.task_id} has no owner"


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_DAGS))
def test_dag_has_no_cycle_and_serializes_for_the_scheduler(dag_bag: DagBag, dag_id: str) -> None:
    dag = dag_bag.dags[dag_id]
    dag.check_cycle()  # raises on a cycle (DagBag checks too; this names the DAG)
    serialized = DagSerialization.to_dict(dag)
    DagSerialization.validate_schema(serialized)
    assert DagSerialization.from_dict(serialized).dag_id == dag_id


def test_bootstrap_checks_schema_after_migrating(dag_bag: DagBag) -> None:
    dag = dag_bag.dags["pipeline_bootstrap"]
    assert dag.schedule is None
    assert dag.get_task("check_schema").upstream_task_ids == {"apply_cql_migrations"}
    assert Path(dag.get_task("apply_cql_migrations").migrations_dir) == ROOT / "sql" / "cql"
    assert {dag.get_task(t).topic for t in ("ensure_trades_topic", "ensure_dead_letter_topic")} == {
        "trades",
        "trades.dead_letter",
    }


def test_stream_supervisor_is_continuous_with_one_run(dag_bag: DagBag) -> None:
    dag = dag_bag.dags["stream_supervisor"]
    assert dag.schedule == "@continuous"
    assert dag.max_active_runs == 1


def test_stream_supervisor_submits_the_spark_job_from_connection_and_variables(dag_bag: DagBag) -> None:
    task = dag_bag.dags["stream_supervisor"].get_task("submit_stream")
    assert isinstance(task, SparkSubmitOperator)
    assert task._conn_id == "spark_default"
    assert Path(task.application) == ROOT / "jobs" / "spark_stream" / "main.py"
    assert Path(task.application).is_file()
    assert task.jars == "{{ var.value.get('spark_jars', '') }}"
    assert task.conf == {
        "spark.executor.memory": "{{ var.value.get('spark_executor_memory', '1g') }}",
        "spark.driver.memory": "{{ var.value.get('spark_driver_memory', '1g') }}",
    }
    assert task.application_args == []
    assert "spark_checkpoint_dir" in task.env_vars["SPARK_STREAM_CHECKPOINT_LOCATION"]
    assert (
        str(ROOT / "var" / "checkpoints" / "spark_stream")
        in task.env_vars["SPARK_STREAM_CHECKPOINT_LOCATION"]
    )
    assert "spark_stream_metrics_port" in task.env_vars["SPARK_STREAM_METRICS_PORT"]
    for field in ("application", "conf", "jars", "application_args", "env_vars"):
        assert field in task.template_fields


def test_stream_supervisor_retries_with_capped_exponential_backoff_and_no_timeout(dag_bag: DagBag) -> None:
    task = dag_bag.dags["stream_supervisor"].get_task("submit_stream")
    assert task.retries >= 2
    assert task.retry_delay.total_seconds() == 30
    assert task.retry_exponential_backoff == 2.0
    assert task.max_retry_delay.total_seconds() == 60
    assert task.execution_timeout is None


def test_stream_supervisor_watches_the_same_application_in_parallel(dag_bag: DagBag) -> None:
    dag = dag_bag.dags["stream_supervisor"]
    sensor = dag.get_task("watch_stream")
    assert isinstance(sensor, SparkStreamHealthSensor)
    assert sensor.stream_task_id == "submit_stream"
    assert sensor.application == dag.get_task("submit_stream").application
    assert sensor.mode == "poke"
    assert sensor.execution_timeout is None
    assert not sensor.upstream_task_ids and not sensor.downstream_task_ids
    assert "spark_stream_stall_minutes" in sensor.stall_minutes


def test_airflows_plugin_loader_skips_the_finnhub_pipeline_package() -> None:
    # The loader execs every .py under plugins/ as a top-level module named after the file; the package is
    # imported normally by the DAGs instead, so plugins/.airflowignore must hide it from the loader.
    from airflow._shared.module_loading import find_path_from_directory

    scanned = [Path(p) for p in find_path_from_directory(str(ROOT / "plugins"), ".airflowignore")]
    assert not [p for p in scanned if p.suffix == ".py"], scanned


def test_stream_supervisor_renders_to_the_intended_spark_submit_command(
    dag_bag: DagBag, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk.execution_time.context import VariableAccessor

    monkeypatch.setenv("AIRFLOW_VAR_SPARK_JARS", "/jars/spark-sql-kafka.jar,/jars/kafka-clients.jar")
    monkeypatch.setenv("AIRFLOW_VAR_SPARK_EXECUTOR_MEMORY", "2g")
    monkeypatch.setenv(
        "AIRFLOW_CONN_SPARK_DEFAULT",
        '{"conn_type": "spark", "host": "local[*]", '
        '"extra": {"deploy-mode": "client", "spark-binary": "spark-submit"}}',
    )
    dag = dag_bag.dags["stream_supervisor"]
    task = dag.get_task("submit_stream").prepare_for_execution()
    context = {"var": {"value": VariableAccessor(deserialize_json=False)}}
    task.render_template_fields(context, jinja_env=dag.get_template_env())  # type: ignore[arg-type]

    command = task._get_hook()._build_spark_submit_command(task.application)

    assert command == [
        "spark-submit",
        "--master",
        "local[*]",
        "--conf",
        "spark.executor.memory=2g",
        "--conf",
        "spark.driver.memory=1g",
        "--jars",
        "/jars/spark-sql-kafka.jar,/jars/kafka-clients.jar",
        "--name",
        "spark_stream",
        "--deploy-mode",
        "client",
        str(ROOT / "jobs" / "spark_stream" / "main.py"),
    ]
    assert task.env_vars["SPARK_STREAM_CHECKPOINT_LOCATION"] == str(
        ROOT / "var" / "checkpoints" / "spark_stream"
    )
    assert task.env_vars["SPARK_STREAM_METRICS_PORT"] == "8001"
