"""Airflow as the pipeline's control plane: the environment its components and task processes run with
(connections, Variables, secrets) and its metadata database.

`stack up` writes the environment file every Airflow component is started with (`with-env`), migrates the
database, then drives DAG runs through `stack.airflow_api`.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path
from typing import Any

from finnhub_pipeline import variables
from finnhub_pipeline.connections import (
    CASSANDRA_CONN_ID,
    KAFKA_CONN_ID,
    SPARK_CONN_ID,
    as_environment,
    cassandra_airflow_connection,
    kafka_airflow_connection,
)
from finnhub_pipeline.stream_submit import kafka_source_jars
from services import layout

from . import topology
from .airflow_api import AirflowError
from .pipeline import write_env_file
from .render import ROOT, MissingArtifactError
from .settings import RuntimeSettings

BIN = ROOT / "deploy" / "local" / "bin"


def _secret(settings: RuntimeSettings, name: str) -> str:
    """A random secret generated once and kept in var/airflow/secrets.json (mode 0600)."""
    path = settings.var_dir / "airflow" / "secrets.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    if name not in stored:
        stored[name] = secrets.token_urlsafe(32)
        path.touch(mode=0o600)
        path.write_text(json.dumps(stored))
    return stored[name]


def connections(settings: RuntimeSettings) -> dict[str, dict[str, Any]]:
    """The Airflow connections of the local runtime, as AIRFLOW_CONN_* JSON documents by connection id:
    Kafka and Cassandra from the same connections every other local client uses (every broker and node as
    bootstrap servers and contact points); the maintenance tasks' nodetool, data and backups on node 1, which
    holds every row with a replication factor of one per node."""
    var = settings.var_dir
    first = topology.cassandra_nodes(settings)[0]
    assert first.data_dir is not None
    return {
        KAFKA_CONN_ID: kafka_airflow_connection(settings.kafka_connection()),
        CASSANDRA_CONN_ID: cassandra_airflow_connection(
            settings.cassandra_connection(),
            jmx_port=settings.cassandra_node_jmx_port(first.number),
            nodetool=str(BIN / "nodetool"),
            data_dir=str(first.data_dir / "data"),
            backup_dir=str(layout.backup_dir(var)),
        ),
        SPARK_CONN_ID: spark_connection(settings),
    }


def spark_connection(settings: RuntimeSettings) -> dict[str, Any]:
    """`spark_default`: local mode inside the task (single), or the standalone master (cluster). The Spark
    provider appends `:port` to the host, so the port is only in `port` (never twice); client deploy mode,
    the only one a Python application has on a standalone master."""
    extra = {"deploy-mode": "client", "spark-binary": "spark-submit"}
    if not settings.cluster:
        return {"conn_type": "spark", "host": "local[*]", "extra": extra}
    master = settings.spark_master_url.rsplit(":", 1)[0]  # spark://127.0.0.1
    return {"conn_type": "spark", "host": master, "port": settings.spark_master_port, "extra": extra}


def spark_jars(settings: RuntimeSettings) -> str:
    """The Kafka source's jars, comma-joined as spark-submit's --jars; `make jars` resolves them."""
    try:
        jars = kafka_source_jars(layout.spark_kafka_jars_dir(settings.var_dir))
    except FileNotFoundError as error:
        raise MissingArtifactError(str(error)) from None
    return ",".join(str(jar) for jar in jars)


def variables_environment(settings: RuntimeSettings) -> dict[str, str]:
    """The Airflow Variables `.env` decides, as AIRFLOW_VAR_* (they win over the DAGs' defaults)."""
    values = {
        variables.SPARK_JARS: spark_jars(settings),
        variables.SPARK_CHECKPOINT_DIR: str(settings.checkpoint_dir),
        variables.SPARK_METRICS_PORT: str(settings.spark_metrics_port),
        variables.SPARK_EXECUTOR_MEMORY: settings.spark_executor_memory,
        variables.SPARK_SECRETS_DIR: str(layout.secret_folder("spark", settings.var_dir)),
    }
    return {variable.environment_variable: value for variable, value in values.items()}


def environment(settings: RuntimeSettings, venv_bin: Path) -> dict[str, str]:
    """Every variable Airflow's components and task processes need. The project is installed into the
    virtualenv, so its Python (components, tasks, spark-submit's driver and workers) imports the pipeline's
    packages without PYTHONPATH."""
    run = settings.var_dir / "run" / "airflow"
    cassandra = settings.cassandra_connection()
    env = {
        "AIRFLOW_HOME": str(settings.var_dir / "airflow"),
        "AIRFLOW_CONFIG": str(run / "airflow.cfg"),
        "AIRFLOW__API__SECRET_KEY": _secret(settings, "api_secret_key"),
        "AIRFLOW__API_AUTH__JWT_SECRET": _secret(settings, "jwt_secret"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": settings.airflow_db_url,
        # Unit-test mode makes Airflow ignore AIRFLOW_CONFIG (StatsD off, dags_folder under AIRFLOW_HOME).
        # The plugin tests set it in pytest's environment; when pytest's `stack up` starts supervisord on a
        # fresh machine every program inherits it, so the components pin it off here.
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        # Task processes call spark-submit, airflow and nodetool by name.
        "PATH": f"{venv_bin}:{BIN}:/usr/local/bin:/usr/bin:/bin",
        # The Spark job reads its clients' settings from the environment (jobs/spark_stream/settings.py).
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_connection().bootstrap_servers,
        "CASSANDRA_HOSTS": ",".join(cassandra.hosts),
        "CASSANDRA_PORT": str(cassandra.port),
        "KAFKA_REPLICATION_FACTOR": str(settings.kafka_replication_factor),
        "CASSANDRA_REPLICATION_FACTOR": str(settings.cassandra_replication_factor),
        **variables_environment(settings),
    }
    if settings.cluster:
        # spark-submit reads the cluster's defaults (cores cap, executor cores, the venv's Python for the
        # executors) from here; the driver binds loopback, where the workers' executors reach it.
        env["SPARK_CONF_DIR"] = str(settings.var_dir / "run" / "spark" / "conf")
        env["SPARK_LOCAL_IP"] = "127.0.0.1"
        env["PYSPARK_PYTHON"] = str(venv_bin / "python")
    env.update(as_environment(conn_id, document) for conn_id, document in connections(settings).items())
    return env


def write_environment(settings: RuntimeSettings, venv_bin: Path) -> Path:
    """Writes var/run/airflow/airflow.env (mode 0600), the file `with-env` exports for every component."""
    return write_env_file(
        settings.var_dir / "run" / "airflow" / "airflow.env", environment(settings, venv_bin)
    )


def migrate_database(settings: RuntimeSettings, env_file: Path, venv_bin: Path) -> None:
    """`airflow db migrate`: creates or upgrades the metadata database (idempotent)."""
    log = settings.var_dir / "log" / "airflow-db-migrate.log"
    with_env = BIN / "with-env"
    with log.open("w") as out:
        result = subprocess.run(
            [str(with_env), str(env_file), str(venv_bin / "airflow"), "db", "migrate"],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if result.returncode != 0:
        raise AirflowError(f"airflow db migrate failed (exit {result.returncode}); see {log}")
