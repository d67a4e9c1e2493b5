"""Reconciliation integration tests: the DAG through the live Airflow's REST API, and the plugin's Kafka
records hook in this process, on the `kafka_default` connection the local runtime gives Airflow."""

from __future__ import annotations

import json
import os
import tempfile

import pytest

# Before anything imports airflow (the records hook test), which reads its configuration once, at import.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="airflow-home-"))
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from stack.control_plane import connections
from stack.settings import RuntimeSettings


@pytest.fixture
def airflow_connections(runtime: RuntimeSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    for conn_id, conn in connections(runtime).items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
