"""Integration fixtures: the real local runtime, started once per test session (or reused when healthy).

`stack up` is idempotent: on a healthy running stack it only re-checks health, so a developer's running
stack is reused and CI starts one from scratch.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stack.settings import RuntimeSettings, load_settings
from stack.supervisor import Supervisor

ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.path):
            item.add_marker(pytest.mark.integration)


def run_stack(*args: str, timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "deploy" / "local")}
    return subprocess.run(
        [sys.executable, "-m", "stack", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


@pytest.fixture(scope="session")
def runtime() -> RuntimeSettings:
    """The running local stack; starts it when it is not up."""
    result = run_stack("up")
    if result.returncode != 0:
        pytest.fail(f"`stack up` failed:\n{result.stdout}\n{result.stderr}", pytrace=False)
    return load_settings()


@pytest.fixture(scope="session")
def supervisor(runtime: RuntimeSettings) -> Supervisor:
    return Supervisor(runtime.var_dir / "run" / "supervisord.conf")


@pytest.fixture
def unique_name() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def cassandra_session(runtime: RuntimeSettings) -> Iterator[object]:
    from cassandra.cluster import Cluster

    cluster = Cluster([runtime.cassandra_host], port=runtime.cassandra_port, protocol_version=5)
    session = cluster.connect()
    yield session
    cluster.shutdown()


def eventually(
    check: Callable[[], object], timeout_s: float, interval_s: float = 1.0, what: str = ""
) -> object:
    """Calls `check` until it returns a truthy value or `timeout_s` passes; the last error says why."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # the condition is not met yet; remember why for the failure message
            last_error = exc
        time.sleep(interval_s)
    raise AssertionError(f"not true within {timeout_s:.0f} s: {what} (last error: {last_error})")
