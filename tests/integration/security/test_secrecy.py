"""No secret of the secured runtime shows anywhere a person or a scraper can read: every log file, every
Prometheus metric, every process's command line, Airflow's rendered templates and task logs, `make status`."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pytest

from stack import pki, security
from stack.airflow_api import AirflowApi
from testkit.runtime import run_stack

from .conftest import SecuredRuntime


@pytest.fixture(scope="module")
def secrets(secured: SecuredRuntime) -> dict[str, bytes]:
    """Every generated password and the private keys' base64 bodies (a line of each key is enough)."""
    found = {key: value.encode() for key, value in secured.passwords.items()}
    tls = security.tls_dir(secured.settings)
    for path in [tls / pki.CA_KEY, *(server.keystore(tls) for server in pki.SERVERS)]:
        key_line = path.read_text().splitlines()[1]  # the first line of base64 after BEGIN PRIVATE KEY
        found[path.name] = key_line.encode()
    return found


def _leaks(data: bytes, secrets: dict[str, bytes]) -> list[str]:
    return [name for name, secret in secrets.items() if secret in data]


def test_no_log_file_holds_a_secret(secured: SecuredRuntime, secrets: dict[str, bytes]) -> None:
    leaks = {}
    for path in (secured.settings.var_dir / "log").rglob("*"):
        if path.is_file():
            found = _leaks(path.read_bytes(), secrets)
            if found:
                leaks[str(path)] = found
    assert leaks == {}


def test_no_metric_holds_a_secret(secured: SecuredRuntime, secrets: dict[str, bytes]) -> None:
    prometheus = f"http://127.0.0.1:{secured.settings.prometheus_port}"
    with urllib.request.urlopen(f"{prometheus}/api/v1/targets", timeout=30) as answer:
        targets = json.load(answer)["data"]["activeTargets"]
    assert targets, "Prometheus scrapes nothing"
    leaks = {}
    for target in targets:
        try:
            with urllib.request.urlopen(target["scrapeUrl"], timeout=30) as answer:
                body = answer.read()
        except OSError:
            continue  # a target that is down exposes nothing
        found = _leaks(body, secrets)
        if found:
            leaks[target["scrapeUrl"]] = found
    assert leaks == {}


def test_no_command_line_holds_a_secret(secured: SecuredRuntime, secrets: dict[str, bytes]) -> None:
    leaks = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            found = _leaks(cmdline, secrets)
            if found:
                leaks[f"{entry.name}: {cmdline[:80]!r}"] = found
    assert leaks == {}


def test_airflow_shows_no_secret_in_rendered_templates_or_task_logs(
    secured: SecuredRuntime, secrets: dict[str, bytes]
) -> None:
    api = AirflowApi(secured.settings)
    assert api.run_to_completion("pipeline_bootstrap", timeout_s=900) == "success"
    for dag_id in ("pipeline_bootstrap", "stream_supervisor"):
        runs = api.get(f"/api/v2/dags/{dag_id}/dagRuns?order_by=-start_date&limit=1")["dag_runs"]
        assert runs, dag_id
        instances = api.get(f"/api/v2/dags/{dag_id}/dagRuns/{runs[0]['dag_run_id']}/taskInstances")
        for instance in instances["task_instances"]:
            assert _leaks(json.dumps(instance.get("rendered_fields") or {}).encode(), secrets) == [], (
                dag_id,
                instance["task_id"],
            )
    task_logs = secured.settings.var_dir / "log" / "airflow"
    assert any(task_logs.rglob("*.log")), "no task log to check"
    for path in task_logs.rglob("*.log"):
        assert _leaks(path.read_bytes(), secrets) == [], path


def test_make_status_shows_no_secret(secured: SecuredRuntime, secrets: dict[str, bytes]) -> None:
    status = run_stack("status", timeout_s=300)
    assert _leaks((status.stdout + status.stderr).encode(), secrets) == []


def test_secret_files_are_private(secured: SecuredRuntime) -> None:
    folder = security.secrets_dir(secured.settings)
    assert folder.stat().st_mode & 0o077 == 0
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix != ".crt":
            assert path.stat().st_mode & 0o077 == 0, path
    for rendered in (secured.settings.var_dir / "run" / "kafka" / "server.properties",):
        assert os.stat(rendered).st_mode & 0o077 == 0
