"""Airflow as the pipeline's control plane: its environment, metadata database, REST API and DAG runs.

`stack up` uses it to start Airflow's components, run `pipeline_bootstrap` once and unpause the stream
supervisor; the tests use the same REST calls.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from jobs.spark_stream.submit import KAFKA_SOURCE_JARS

from .pipeline import write_env_file
from .render import ROOT
from .settings import RuntimeSettings


class AirflowError(Exception):
    """Airflow refused or failed a step; the message names the step and where to look."""


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
    """The Airflow connections of the local runtime, as AIRFLOW_CONN_* JSON values."""
    var = settings.var_dir
    return {
        "kafka_default": {"conn_type": "kafka", "extra": {"bootstrap.servers": settings.kafka_bootstrap}},
        "cassandra_default": {
            "conn_type": "cassandra",
            "host": settings.cassandra_host,
            "port": settings.cassandra_port,
            "extra": {
                "jmx_port": settings.cassandra_jmx_port,
                "nodetool": str(ROOT / "deploy" / "local" / "bin" / "nodetool"),
                "data_dir": str(var / "data" / "cassandra" / "data"),
                "backup_dir": str(var / "backups"),
            },
        },
        "spark_default": {
            "conn_type": "spark",
            "host": "local[*]",
            "extra": {"deploy-mode": "client", "spark-binary": "spark-submit"},
        },
    }


def environment(settings: RuntimeSettings, venv_bin: Path) -> dict[str, str]:
    """Every variable Airflow's components and task processes need."""
    run = settings.var_dir / "run" / "airflow"
    # Only the Kafka source and its own dependencies: the other jars Maven resolved are in pyspark already.
    spark_jars = ",".join(
        str(jar)
        for jar in sorted((settings.var_dir / "lib" / "spark-kafka").glob("*.jar"))
        if jar.name.startswith(KAFKA_SOURCE_JARS)
    )
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
        "AIRFLOW_VAR_SPARK_JARS": spark_jars,
        "AIRFLOW_VAR_SPARK_CHECKPOINT_DIR": str(settings.var_dir / "checkpoints" / "spark_stream"),
        # Task processes import the pipeline's packages and call spark-submit, airflow and nodetool by name.
        "PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}",
        "PATH": f"{venv_bin}:{ROOT / 'deploy' / 'local' / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap,
        "CASSANDRA_HOSTS": settings.cassandra_host,
        "CASSANDRA_PORT": str(settings.cassandra_port),
        "KAFKA_REPLICATION_FACTOR": str(settings.kafka_replication_factor),
        "CASSANDRA_REPLICATION_FACTOR": str(settings.cassandra_replication_factor),
    }
    for conn_id, conn in connections(settings).items():
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)
    return env


def write_environment(settings: RuntimeSettings, venv_bin: Path) -> Path:
    """Writes var/run/airflow/airflow.env (mode 0600), the file `with-env` exports for every component."""
    return write_env_file(
        settings.var_dir / "run" / "airflow" / "airflow.env", environment(settings, venv_bin)
    )


def migrate_database(settings: RuntimeSettings, env_file: Path, venv_bin: Path) -> None:
    """`airflow db migrate`: creates or upgrades the metadata database (idempotent)."""
    log = settings.var_dir / "log" / "airflow-db-migrate.log"
    with_env = ROOT / "deploy" / "local" / "bin" / "with-env"
    with log.open("w") as out:
        result = subprocess.run(
            [str(with_env), str(env_file), str(venv_bin / "airflow"), "db", "migrate"],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if result.returncode != 0:
        raise AirflowError(f"airflow db migrate failed (exit {result.returncode}); see {log}")


def admin_password(settings: RuntimeSettings) -> str | None:
    path = settings.var_dir / "airflow" / "simple_auth_manager_passwords.json.generated"
    if not path.exists():
        return None
    return str(json.loads(path.read_text()).get("admin"))


class AirflowApi:
    """The few REST API v2 calls the runtime and tests make, authenticated as the generated admin."""

    def __init__(self, settings: RuntimeSettings) -> None:
        self.base = f"http://127.0.0.1:{settings.airflow_port}"
        self.settings = settings
        self._token: str | None = None

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None, auth: bool = True) -> Any:
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            raise AirflowError(f"{method} {path}: HTTP {exc.code} {exc.read()[:300]!r}") from None

    def token(self) -> str:
        if self._token is None:
            password = admin_password(self.settings)
            if password is None:
                raise AirflowError("no generated admin password yet (is the api-server up?)")
            answer = self._request(
                "POST", "/auth/token", {"username": "admin", "password": password}, auth=False
            )
            self._token = str(answer["access_token"])
        return self._token

    def health(self) -> dict[str, Any]:
        return dict(self._request("GET", "/api/v2/monitor/health", auth=False))

    def get(self, path: str) -> Any:
        return self._request("GET", path)

    def dag_ids(self) -> set[str]:
        return {dag["dag_id"] for dag in self._request("GET", "/api/v2/dags?limit=100")["dags"]}

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self._request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": paused})

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        run = self._request(
            "POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}}
        )
        return str(run["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"])

    def wait_for_dag(self, dag_id: str, timeout_s: float) -> None:
        """Waits until the dag-processor has parsed `dag_id`."""
        deadline = time.monotonic() + timeout_s
        while dag_id not in self.dag_ids():
            if time.monotonic() > deadline:
                raise AirflowError(
                    f"DAG {dag_id} not parsed within {timeout_s:.0f} s; see var/log/airflow-dag-processor.log"
                )
            time.sleep(2)

    def run_to_completion(self, dag_id: str, timeout_s: float, conf: dict[str, Any] | None = None) -> str:
        """Unpauses `dag_id`, triggers a run and waits until it ends; returns its final state."""
        self.wait_for_dag(dag_id, timeout_s)
        self.set_paused(dag_id, False)
        run_id = self.trigger(dag_id, conf)
        deadline = time.monotonic() + timeout_s
        while (state := self.run_state(dag_id, run_id)) not in ("success", "failed"):
            if time.monotonic() > deadline:
                raise AirflowError(f"DAG run {dag_id}/{run_id} still {state} after {timeout_s:.0f} s")
            time.sleep(2)
        return state
