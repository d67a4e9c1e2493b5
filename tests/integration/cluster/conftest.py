"""The cluster topology for its tests: the running single-node stack switched to TOPOLOGY=cluster with
`stack up` (the path a user takes: `make up TOPOLOGY=cluster`) before the first of them, and switched back to
the single-node stack after the last (package scope: a session-scoped fixture would keep the cluster up until
the session's end, under the security tests that follow).

These tests run after every other integration test except the security ones (which switch the single-node
stack to ENABLE_SSL and back and must stay last): the cluster takes this 2-core machine's memory and CPU for
itself while it runs. The simulator streams at a steady rate (no bursts) from a fixed seed.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from services.cassandra_session import cassandra_session
from stack.settings import RuntimeSettings, load_settings
from stack.supervisor import Supervisor
from testkit.runtime import run_stack, stack_supervisor

CLUSTER_ENVIRONMENT = {
    "TOPOLOGY": "cluster",
    # Explicit, so a developer's .env written for one node (RF 1, 1G heaps) cannot make the cluster refuse.
    "KAFKA_REPLICATION_FACTOR": "3",
    "CASSANDRA_REPLICATION_FACTOR": "3",
    "KAFKA_HEAP": "256m",
    "CASSANDRA_HEAP": "512M",
    # A steady, reproducible stream: every check compares exact counts per symbol.
    "SIMULATOR_SEED": "20260512",
    "SIMULATOR_RATE": "40",
    "SIMULATOR_BURST_PROBABILITY": "0",
}
START_TIMEOUT_S = 2400
"""A first cluster start: six JVM engines, Spark's master and workers, Airflow restarting with the cluster's
environment, the bootstrap DAG and the Spark job's first executors, on 2 cores."""


@dataclass(frozen=True)
class ClusterRuntime:
    settings: RuntimeSettings
    supervisor: Supervisor
    start_s: float
    up_output: str


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Cluster tests after every other test, the security tests still last (tests/integration/conftest.py)."""
    cluster = [item for item in items if "tests/integration/cluster/" in str(item.path)]
    secured = [item for item in items if "tests/integration/security/" in str(item.path)]
    if cluster:
        rest = [item for item in items if item not in cluster and item not in secured]
        items[:] = rest + cluster + secured


def _restore(saved: dict[str, str | None]) -> None:
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="package")
def cluster() -> Iterator[ClusterRuntime]:
    saved = {name: os.environ.get(name) for name in CLUSTER_ENVIRONMENT}
    os.environ.update(CLUSTER_ENVIRONMENT)  # wins over .env for `stack up` and the settings read here
    try:
        started = time.monotonic()
        result = run_stack("up", timeout_s=START_TIMEOUT_S)
        took = time.monotonic() - started
        if result.returncode != 0:
            pytest.fail(
                f"`stack up` (TOPOLOGY=cluster) failed:\n{result.stdout}\n{result.stderr}",
                pytrace=False,
            )
        print(f"cluster up in {took:.0f} s; load average {os.getloadavg()}")
        settings = load_settings()
        assert settings.cluster
        yield ClusterRuntime(
            settings,
            stack_supervisor(settings),
            took,
            result.stdout,
        )
    finally:
        _restore(saved)
        back = run_stack("up", timeout_s=START_TIMEOUT_S)
        if back.returncode != 0:
            pytest.fail(f"switching back to the single-node stack failed:\n{back.stdout}\n{back.stderr}")


@pytest.fixture(scope="package")
def cluster_session(cluster: ClusterRuntime) -> Iterator[Any]:
    """A Cassandra session with every node as a contact point, as every client of the cluster has."""
    session = cassandra_session(cluster.settings.cassandra_connection())
    yield session
    session.cluster.shutdown()


def program_pid(cluster: ClusterRuntime, program: str) -> int:
    state = cluster.supervisor.programs()[program]
    assert state.state == "RUNNING" and state.pid, f"{program} is {state.state}"
    return state.pid


def kill9_and_hold(cluster: ClusterRuntime, program: str) -> int:
    """kill -9 of the program's process (its JVM: spark-class and Kafka/Cassandra exec java), then keeps
    it down: supervisord would restart it at once, so the restart it begins is stopped. The killed pid."""
    pid = program_pid(cluster, program)
    subprocess.run(["kill", "-9", str(pid)], check=True)
    cluster.supervisor.ctl("stop", program)
    return pid
