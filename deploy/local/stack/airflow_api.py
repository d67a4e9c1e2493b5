"""The local Airflow's REST API v2, as the runtime, the operations tools and the tests call it: DAG runs,
pausing, Variables, task states and clearing a task, authenticated as the generated admin.

`stack up` runs `pipeline_bootstrap` and unpauses `stream_supervisor` through it; `make reset-checkpoint`
pauses, sets a Variable and clears the job's task through it.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from finnhub_pipeline.variables import Variable

from .settings import LOCALHOST, RuntimeSettings

BOOTSTRAP_DAG = "pipeline_bootstrap"
STREAM_DAG = "stream_supervisor"
STREAM_TASK = "submit_stream"
"""stream_supervisor's task that runs the Spark job (spark-submit)."""


class AirflowError(Exception):
    """Airflow refused or failed a step; the message names the step and where to look."""


def admin_password(settings: RuntimeSettings) -> str | None:
    """The admin password Airflow's SimpleAuthManager generated at its first start, if it has yet."""
    path = settings.var_dir / "airflow" / "simple_auth_manager_passwords.json.generated"
    if not path.exists():
        return None
    return str(json.loads(path.read_text()).get("admin"))


class AirflowApi:
    """The REST API v2 calls the runtime, the operations tools and the tests make."""

    def __init__(self, settings: RuntimeSettings) -> None:
        self.base = f"http://{LOCALHOST}:{settings.airflow_port}"
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

    # --- DAGs and their runs ---------------------------------------------------------------------------
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

    def running_run_id(self, dag_id: str) -> str | None:
        answer = self.get(f"/api/v2/dags/{dag_id}/dagRuns?state=running&order_by=-start_date&limit=1")
        runs = answer["dag_runs"]
        return str(runs[0]["dag_run_id"]) if runs else None

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

    # --- task instances --------------------------------------------------------------------------------
    def task_state(self, dag_id: str, run_id: str, task_id: str) -> str | None:
        answer = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")
        return None if answer["state"] is None else str(answer["state"])

    def clear_task(self, dag_id: str, run_id: str, task_id: str) -> int:
        """Clears one task of one run (whatever its state but running), so it is scheduled again at once."""
        answer = self._request(
            "POST",
            f"/api/v2/dags/{dag_id}/clearTaskInstances",
            {
                "dry_run": False,
                "dag_run_id": run_id,
                "task_ids": [task_id],
                "only_failed": False,
                "reset_dag_runs": False,
                "include_upstream": False,
                "include_downstream": False,
                "prevent_running_task": True,
            },
        )
        return int(answer["total_entries"])

    # --- Variables -------------------------------------------------------------------------------------
    def _variables(self, key: str) -> list[dict[str, Any]]:
        query = urllib.parse.urlencode({"variable_key_pattern": key, "limit": 100})
        found = self.get(f"/api/v2/variables?{query}")["variables"]
        return [variable for variable in found if variable["key"] == key]

    def set_variable(self, variable: Variable, value: str) -> None:
        """Stores the Variable's value (with its description) in Airflow's metadata database."""
        body = {"key": variable.key, "value": value, "description": variable.description}
        if self._variables(variable.key):
            self._request("PATCH", f"/api/v2/variables/{variable.key}", body)
        else:
            self._request("POST", "/api/v2/variables", body)

    def variable(self, variable: Variable) -> str | None:
        """The Variable's value stored in the metadata database (None: unset, the DAGs use its default)."""
        values = [str(found["value"]) for found in self._variables(variable.key)]
        return values[0] if values else None
