"""Airflow for plugin unit tests, configured (tests/airflow_setup.py) before anything imports airflow."""

from __future__ import annotations

from tests.airflow_setup import configure_airflow

configure_airflow()
