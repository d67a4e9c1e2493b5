"""Maintenance runs by itself: after `stack up` the maintenance DAGs are unpaused, and each has a run of type
`scheduled` that succeeded, which nobody triggered.

Why a scheduled run exists on a fresh stack within minutes: the DAGs' CronTriggerTimetable without catchup
makes the scheduler create the latest past scheduled run as soon as a DAG is unpaused (Airflow 3.3: with a
start_date set, the next run is max(latest past cron time, first cron time after start_date)), and
`stack up` unpauses them. The test waits for that run; it triggers nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from finnhub_pipeline.dag_defaults import MAINTENANCE_DAG_IDS
from stack.airflow_api import AirflowApi
from stack.settings import RuntimeSettings
from testkit.waiting import eventually

# A fresh stack runs all four at once on 2 cores: a backup, a major compaction of three tables, a TTL audit
# and a reconciliation (measured: 21 s, 68 s, 52 s and 55 s, started together during `make up`).
RUN_TIMEOUT_S = 900


@pytest.fixture(scope="module")
def airflow(runtime: RuntimeSettings) -> AirflowApi:
    return AirflowApi(runtime)


def scheduled_runs(airflow: AirflowApi, dag_id: str) -> list[dict[str, Any]]:
    answer = airflow.get(f"/api/v2/dags/{dag_id}/dagRuns?order_by=-run_after&limit=20")
    return [run for run in answer["dag_runs"] if run["run_type"] == "scheduled"]


@pytest.mark.parametrize("dag_id", MAINTENANCE_DAG_IDS)
def test_stack_up_leaves_the_maintenance_dag_unpaused(airflow: AirflowApi, dag_id: str) -> None:
    airflow.wait_for_dag(dag_id, timeout_s=300)

    dag = airflow.get(f"/api/v2/dags/{dag_id}")

    assert dag["is_paused"] is False
    assert dag["next_dagrun_run_after"] is not None


@pytest.mark.parametrize("dag_id", MAINTENANCE_DAG_IDS)
def test_a_scheduled_run_succeeds_without_anyone_triggering_it(airflow: AirflowApi, dag_id: str) -> None:
    airflow.wait_for_dag(dag_id, timeout_s=300)

    succeeded = eventually(
        lambda: (
            [run for run in scheduled_runs(airflow, dag_id) if run["state"] == "success"]
            or (_fail_on_failed_runs(airflow, dag_id) and None)
        ),
        RUN_TIMEOUT_S,
        interval_s=10,
        what=f"a scheduled run of {dag_id} in state success",
    )

    run = succeeded[0]  # type: ignore[index]
    assert run["run_type"] == "scheduled"


def _fail_on_failed_runs(airflow: AirflowApi, dag_id: str) -> bool:
    failed = [run["dag_run_id"] for run in scheduled_runs(airflow, dag_id) if run["state"] == "failed"]
    if failed and not [
        run for run in scheduled_runs(airflow, dag_id) if run["state"] in ("running", "queued")
    ]:
        pytest.fail(
            f"scheduled runs of {dag_id} failed: {failed} (task logs: var/log/airflow/dag_id={dag_id}/)"
        )
    return True
