"""Airflow for the tests that import it: a throw-away AIRFLOW_HOME, unit-test mode, no examples.

The DAG tests' and the plugin unit tests' conftests call `configure_airflow()` before anything imports
airflow, which reads its configuration once at import.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def configure_airflow() -> None:
    """Point Airflow at a fresh AIRFLOW_HOME and this checkout's dags/ and plugins/."""
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="airflow-home-")
    os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
    os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(ROOT / "plugins")
