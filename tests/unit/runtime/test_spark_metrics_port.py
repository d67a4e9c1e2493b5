"""SPARK_METRICS_PORT in `.env` reaches every place that needs it: Airflow's environment (the
`spark_metrics_port` Variable), Prometheus' scrape target, and, through the stream_supervisor DAG, the Spark
job's environment and the health sensor's metrics URL. Shown with a non-default port."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from finnhub_pipeline import variables
from services import contracts, layout
from stack import control_plane, render
from stack.settings import RuntimeSettings
from tests.airflow_setup import configure_airflow

PORT = 8123
assert str(PORT) != variables.SPARK_METRICS_PORT.default


@pytest.fixture
def settings(installed: Path, monkeypatch: pytest.MonkeyPatch) -> RuntimeSettings:
    """The runtime's settings read from a `.env` that sets only SPARK_METRICS_PORT."""
    dotenv = installed / ".env"
    dotenv.write_text(f"SPARK_METRICS_PORT={PORT}\nVAR_DIR={installed}\n")
    monkeypatch.setitem(RuntimeSettings.model_config, "env_file", dotenv)
    monkeypatch.delenv("SPARK_METRICS_PORT", raising=False)
    return RuntimeSettings.load()


@pytest.fixture
def airflow_environment(settings: RuntimeSettings) -> dict[str, str]:
    return control_plane.environment(settings, Path(sys.executable).parent)


def test_airflow_gets_the_port_as_the_spark_metrics_port_variable(
    airflow_environment: dict[str, str],
) -> None:
    assert airflow_environment[variables.SPARK_METRICS_PORT.environment_variable] == str(PORT)


def test_prometheus_scrapes_the_job_on_the_port(settings: RuntimeSettings) -> None:
    render.render_all(settings)

    config = yaml.safe_load((settings.var_dir / "run" / "prometheus" / "prometheus.yml").read_text())
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "spark_stream"]
    assert job["static_configs"] == [{"targets": [f"127.0.0.1:{PORT}"]}]


def rendered_stream_supervisor(environment: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The stream_supervisor DAG's two tasks with their templates rendered as Airflow renders them at run
    time, with Airflow's environment as `stack up` writes it (its AIRFLOW_VAR_* are the Variables)."""
    if "airflow" not in sys.modules:  # Airflow reads its configuration once, at import
        configure_airflow()
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.execution_time.context import VariableAccessor

    for name, value in environment.items():
        if name.startswith("AIRFLOW_VAR_"):
            monkeypatch.setenv(name, value)
    dag = DagBag(dag_folder=str(layout.ROOT / "dags" / "stream_supervisor.py")).dags["stream_supervisor"]
    context = {"var": {"value": VariableAccessor(deserialize_json=False)}}
    tasks = {}
    for task_id in ("submit_stream", "watch_stream"):
        task = dag.get_task(task_id).prepare_for_execution()
        task.render_template_fields(context, jinja_env=dag.get_template_env())  # type: ignore[arg-type]
        tasks[task_id] = task
    return tasks


def test_the_dag_gives_the_port_to_the_job_and_its_health_sensor(
    airflow_environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks = rendered_stream_supervisor(airflow_environment, monkeypatch)

    assert tasks["submit_stream"].env_vars["SPARK_METRICS_PORT"] == str(PORT)
    assert tasks["watch_stream"].metrics_url == f"http://127.0.0.1:{PORT}/metrics"


def test_without_the_setting_everything_uses_the_contracts_default(
    installed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SPARK_METRICS_PORT", raising=False)
    settings = RuntimeSettings(var_dir=installed)
    environment = control_plane.environment(settings, Path(sys.executable).parent)

    tasks = rendered_stream_supervisor(environment, monkeypatch)

    default = str(contracts.SPARK_METRICS_PORT)
    assert environment[variables.SPARK_METRICS_PORT.environment_variable] == default
    assert tasks["submit_stream"].env_vars["SPARK_METRICS_PORT"] == default
    assert tasks["watch_stream"].metrics_url == f"http://127.0.0.1:{default}/metrics"
