"""Every DAG in dags/ imports cleanly, quickly, and carries the house rules; the stream supervisor's
SparkSubmitOperator is wired as intended (checked on the task object, Spark never runs).

Airflow 3.3's DagBag has no `include_examples` argument: examples are a separate bundle and never load here.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import DAG
from airflow.serialization.serialized_objects import DagSerialization

from finnhub_pipeline import dag_defaults, stream_submit, variables
from finnhub_pipeline.operators.reconciliation import ReconciliationOperator
from finnhub_pipeline.sensors.spark_health import SparkStreamHealthSensor
from jobs.spark_stream.settings import StreamSettings
from services import layout
from services.configuration import SECRETS_DIR_VARIABLE

ROOT = Path(__file__).resolve().parents[2]
VARIABLE_IN_TEMPLATE = re.compile(r"var\.value\.get\('([^']+)'")
DAGS_FOLDER = ROOT / "dags"
DAG_FILES = sorted(DAGS_FOLDER.glob("*.py"))
EXPECTED_DAGS = {
    "pipeline_bootstrap",
    "stream_supervisor",
    "cassandra_compaction",
    "cassandra_backup",
    "ttl_audit",
    "reconciliation",
}
IMPORT_LIMIT_S = 2.0


@pytest.fixture(scope="module")
def dag_bag() -> DagBag:
    return DagBag(dag_folder=str(DAGS_FOLDER))


def submit_stream(dag_bag: DagBag) -> SparkSubmitOperator:
    task = dag_bag.dags["stream_supervisor"].get_task("submit_stream")
    assert isinstance(task, SparkSubmitOperator)
    return task


def test_every_dag_file_imports_without_error(dag_bag: DagBag) -> None:
    assert dag_bag.import_errors == {}, "\n".join(f"{f}: {e}" for f, e in dag_bag.import_errors.items())


def test_the_six_pipeline_dags_are_found(dag_bag: DagBag) -> None:
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
        assert (task.retries or 0) >= 2, f"{dag_id}.{task.task_id} retries {task.retries} < 2"
        assert task.owner not in (None, "", "airflow"), f"{dag_id}.{task.task_id} has no owner"


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_DAGS))
def test_dag_has_no_cycle_and_serializes_for_the_scheduler(dag_bag: DagBag, dag_id: str) -> None:
    dag = dag_bag.dags[dag_id]
    dag.check_cycle()  # raises on a cycle (DagBag checks too; this names the DAG)
    serialized = DagSerialization.to_dict(dag)
    DagSerialization.validate_schema(serialized)
    assert DagSerialization.from_dict(serialized).dag_id == dag_id


def templates(value: object) -> Iterator[str]:
    """Every string in a task's template field, looking into lists and dicts."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from templates(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from templates(item)


def documented_default(variable: variables.Variable) -> str:
    """A default as a DAG's doc gives it: a path in the checkout relative to it."""
    default = Path(variable.default)
    if default.is_absolute() and default.is_relative_to(layout.ROOT):
        return str(default.relative_to(layout.ROOT))
    return variable.default


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_DAGS))
def test_dag_doc_lists_every_variable_its_tasks_read_with_its_default(dag_bag: DagBag, dag_id: str) -> None:
    dag = dag_bag.dags[dag_id]
    registry = {variable.key: variable for variable in variables.ALL}
    keys = {
        key
        for task in dag.tasks
        for field in task.template_fields
        for text in templates(getattr(task, field))
        for key in VARIABLE_IN_TEMPLATE.findall(text)
    }
    assert keys <= set(registry), f"{dag_id} reads Variables missing from finnhub_pipeline.variables"
    doc = dag.doc_md or ""
    for key in sorted(keys):
        assert f"`{key}`" in doc, f"{dag_id}'s doc does not name the Variable {key}"
        default = documented_default(registry[key])
        if default:
            stated = re.findall(rf"`{key}`\s+\(`?([^`),:;= ]+)", doc)
            assert stated == [default], f"{dag_id}'s doc gives {key} the default {stated}, not {default!r}"


def test_every_environment_variable_given_to_the_stream_job_is_one_it_reads(dag_bag: DagBag) -> None:
    task = submit_stream(dag_bag)
    # Its settings' variables, and the folder of secret files every settings class reads.
    read = {*StreamSettings.environment_variables().values(), SECRETS_DIR_VARIABLE}
    assert set(task.env_vars or {}) <= read


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
    task = submit_stream(dag_bag)
    assert task._conn_id == "spark_default"
    assert Path(task.application) == ROOT / "jobs" / "spark_stream" / "main.py"
    assert Path(task.application).is_file()
    assert task.name == stream_submit.APPLICATION_NAME
    assert task.jars == variables.SPARK_JARS.template
    assert task.conf == {
        "spark.executor.memory": variables.SPARK_EXECUTOR_MEMORY.template,
        "spark.driver.memory": variables.SPARK_DRIVER_MEMORY.template,
        "spark.driver.extraJavaOptions": stream_submit.driver_java_options(
            variables.SPARK_DRIVER_MEMORY.template
        ),
    }
    assert task.application_args == []
    env = task.env_vars or {}
    assert env["SPARK_STREAM_CHECKPOINT_LOCATION"] == variables.SPARK_CHECKPOINT_DIR.template
    assert variables.SPARK_CHECKPOINT_DIR.default == str(ROOT / "var" / "checkpoints" / "spark_stream")
    assert env["SPARK_METRICS_PORT"] == variables.SPARK_METRICS_PORT.template
    assert env["SPARK_STREAM_STARTING_OFFSETS"] == variables.SPARK_STARTING_OFFSETS.template
    for field in ("application", "conf", "jars", "application_args", "env_vars"):
        assert field in task.template_fields


def test_stream_supervisor_retries_with_capped_exponential_backoff_and_no_timeout(dag_bag: DagBag) -> None:
    task = submit_stream(dag_bag)
    assert (task.retries or 0) >= 2
    assert isinstance(task.retry_delay, timedelta) and task.retry_delay.total_seconds() == 30
    assert task.retry_exponential_backoff == 2.0
    assert isinstance(task.max_retry_delay, timedelta) and task.max_retry_delay.total_seconds() == 60
    assert task.execution_timeout is None


def test_stream_supervisor_watches_the_same_application_in_parallel(dag_bag: DagBag) -> None:
    dag = dag_bag.dags["stream_supervisor"]
    sensor = dag.get_task("watch_stream")
    assert isinstance(sensor, SparkStreamHealthSensor)
    assert sensor.stream_task_id == "submit_stream"
    assert sensor.application == submit_stream(dag_bag).application
    assert sensor.mode == "poke"
    assert sensor.execution_timeout is None
    assert not sensor.upstream_task_ids and not sensor.downstream_task_ids
    assert sensor.stall_minutes == variables.SPARK_STALL_MINUTES.template
    assert sensor.checkpoint == (submit_stream(dag_bag).env_vars or {})["SPARK_STREAM_CHECKPOINT_LOCATION"]
    # The port the job is told to serve its metrics on is the port the sensor scrapes.
    assert variables.SPARK_METRICS_PORT.template in sensor.metrics_url


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
    monkeypatch.setenv("AIRFLOW_VAR_SPARK_DRIVER_MEMORY", "1536m")  # the heap's ceiling and its floor
    monkeypatch.setenv(
        "AIRFLOW_CONN_SPARK_DEFAULT",
        '{"conn_type": "spark", "host": "local[*]", '
        '"extra": {"deploy-mode": "client", "spark-binary": "spark-submit"}}',
    )
    dag = dag_bag.dags["stream_supervisor"]
    task = submit_stream(dag_bag).prepare_for_execution()
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
        "spark.driver.memory=1536m",
        "--conf",
        "spark.driver.extraJavaOptions=-Xms1536m -XX:+AlwaysPreTouch",
        "--jars",
        "/jars/spark-sql-kafka.jar,/jars/kafka-clients.jar",
        "--name",
        "spark_stream",
        "--deploy-mode",
        "client",
        str(ROOT / "jobs" / "spark_stream" / "main.py"),
    ]
    env = task.env_vars or {}
    assert env["SPARK_STREAM_CHECKPOINT_LOCATION"] == str(ROOT / "var" / "checkpoints" / "spark_stream")
    assert env["SPARK_METRICS_PORT"] == "8001"


def test_the_maintenance_dags_are_the_ones_make_up_unpauses(dag_bag: DagBag) -> None:
    tagged = {dag_id for dag_id, dag in dag_bag.dags.items() if dag_defaults.MAINTENANCE_TAG in dag.tags}
    assert tagged == set(dag_defaults.MAINTENANCE_DAG_IDS)


SCHEDULES = {
    "cassandra_backup": "0 2 * * *",
    "cassandra_compaction": "30 3 * * *",
    "ttl_audit": "0 5 * * *",
    "reconciliation": "15 * * * *",
}


@pytest.mark.parametrize("dag_id", dag_defaults.MAINTENANCE_DAG_IDS)
def test_maintenance_dags_run_on_a_cron_trigger_in_utc_without_catchup(dag_bag: DagBag, dag_id: str) -> None:
    # A cron string would give a CronTriggerTimetable or a CronDataIntervalTimetable depending on
    # [scheduler] create_cron_data_intervals (the unit-test config turns it on); the DAGs name theirs.
    # Trigger: a run at each cron time (logical date = that time); without catchup the scheduler creates the
    # latest past one as soon as the DAG is unpaused.
    from airflow.timetables.trigger import CronTriggerTimetable

    dag = dag_bag.dags[dag_id]
    serialized = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    assert isinstance(serialized.timetable, CronTriggerTimetable)
    assert serialized.timetable.serialize()["expression"] == SCHEDULES[dag_id]
    assert serialized.timetable.serialize()["timezone"] == "UTC"
    assert dag.catchup is False
    assert dag.max_active_runs == 1


def test_reconciliation_runs_hourly_after_the_grace_with_range_params(dag_bag: DagBag) -> None:
    dag = dag_bag.dags["reconciliation"]
    task = dag.get_task("reconcile")
    assert isinstance(task, ReconciliationOperator)
    # Minute 15 leaves the default 10-minute grace and 5 minutes for the job to write the hour's end.
    assert int(variables.RECONCILIATION_LATE_GRACE_MINUTES.default) < 15
    assert set(dag.params) == {"start", "end"}
    assert dag.params["start"] is None and dag.params["end"] is None
    assert task.checkpoint == variables.SPARK_CHECKPOINT_DIR.template
    assert task.late_grace_minutes == variables.RECONCILIATION_LATE_GRACE_MINUTES.template
    assert task.stream_wait_minutes == variables.RECONCILIATION_STREAM_WAIT_MINUTES.template
    assert {"start", "end", "checkpoint", "late_grace_minutes"} <= set(task.template_fields)


@pytest.mark.parametrize(
    ("conf", "expected"),
    [
        ({}, ("", "")),
        (
            {"start": "2026-05-01T09:00:00Z", "end": "2026-05-01T10:00:00Z"},
            ("2026-05-01T09:00:00Z", "2026-05-01T10:00:00Z"),
        ),
    ],
)
def test_reconciliation_params_render_to_the_operators_range(
    dag_bag: DagBag, conf: dict[str, str], expected: tuple[str, str]
) -> None:
    from airflow.sdk.definitions.param import ParamsDict
    from jinja2 import Environment

    dag = dag_bag.dags["reconciliation"]
    task = dag.get_task("reconcile")
    assert isinstance(task, ReconciliationOperator)
    params = ParamsDict(dict(dag.params))
    params.update(conf)
    environment = Environment()
    rendered = tuple(
        environment.from_string(str(template)).render(params=params.dump())
        for template in (task.start, task.end)
    )
    assert rendered == expected
