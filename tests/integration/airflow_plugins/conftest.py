"""Plugin integration tests: Airflow in unit-test mode (throw-away AIRFLOW_HOME), and the `kafka_default`
and `cassandra_default` connections the local runtime gives Airflow, as AIRFLOW_CONN_* variables.

Everything a test creates has a unique name (keyspace, topic) and is dropped afterwards; `trading` and
other tests' objects are never touched.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator

import pytest

# Before anything imports airflow, which reads its configuration once, at import.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="airflow-home-")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"

from stack import health
from stack.control_plane import connections
from stack.settings import RuntimeSettings, load_settings
from testkit.runtime import run_stack


@pytest.fixture(scope="session")
def runtime() -> RuntimeSettings:
    """The running stack's Kafka and Cassandra; `stack up` only when one of them does not answer.

    Overrides the shared fixture: with dags/ present, `stack up` also runs the pipeline_bootstrap DAG
    through the live Airflow and waits for it, which ties these plugin tests to the control plane's state.
    """
    settings = load_settings()
    try:
        health.kafka_metadata(settings)
        health.cassandra_query(settings)
    except health.Unhealthy:
        result = run_stack("up")
        if result.returncode != 0:
            pytest.fail(f"`stack up` failed:\n{result.stdout}\n{result.stderr}", pytrace=False)
        settings = load_settings()
    return settings


@pytest.fixture(autouse=True)
def airflow_connections(runtime: RuntimeSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    for conn_id, conn in connections(runtime).items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


@pytest.fixture
def fresh_keyspace(cassandra_session: object, unique_name: str) -> Iterator[Callable[[str], str]]:
    """Names for throw-away keyspaces (`<unique>_<suffix>`), all dropped at the end of the test."""
    created: list[str] = []

    def name(suffix: str = "ks") -> str:
        created.append(f"{unique_name}_{suffix}")
        return created[-1]

    yield name
    for keyspace in created:
        cassandra_session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=120)  # type: ignore[attr-defined]
