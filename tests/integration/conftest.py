"""Integration fixtures: the real local runtime, started once per test session (or reused when healthy).

`stack up` is idempotent: on a healthy running stack it only re-checks health, so a developer's running
stack is reused and CI starts one from scratch. The harnesses the tests share with the benchmarks live in
`testkit`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Generator, Iterator
from typing import Any

import pytest

from services.cassandra_session import cassandra_session as connect
from stack.settings import RuntimeSettings, load_settings
from stack.supervisor import Supervisor
from testkit.diagnostics import stack_snapshot
from testkit.runtime import run_stack, stack_supervisor

# The cluster suite (tests/integration/cluster) switches the stack to TOPOLOGY=cluster and back (~10 min
# here): part of `make test`, and alone with `make test-cluster`. CLUSTER_TESTS=0 leaves it out of a run.
collect_ignore = ["cluster"] if os.environ.get("CLUSTER_TESTS") == "0" else []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.path):
            item.add_marker(pytest.mark.integration)
    # The security tests switch the shared stack to ENABLE_SSL=true (and back at the end): they run last.
    secured = [item for item in items if "tests/integration/security" in str(item.path)]
    if secured:
        items[:] = [item for item in items if item not in secured] + secured


@pytest.fixture(scope="session")
def runtime() -> RuntimeSettings:
    """The running local stack; starts it when it is not up."""
    result = run_stack("up")
    if result.returncode != 0:
        pytest.fail(f"`stack up` failed:\n{result.stdout}\n{result.stderr}", pytrace=False)
    return load_settings()


@pytest.fixture(scope="session")
def supervisor(runtime: RuntimeSettings) -> Supervisor:
    return stack_supervisor(runtime)


@pytest.fixture
def unique_name() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def cassandra_session(runtime: RuntimeSettings) -> Iterator[Any]:
    """A session on the stack's Cassandra, built as every client builds one."""
    session = connect(runtime.cassandra_connection())
    yield session
    session.cluster.shutdown()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed integration test's report carries the stack's state at that moment (testkit.diagnostics)."""
    report: pytest.TestReport = yield
    if report.failed and report.when == "call" and "runtime" in getattr(item, "fixturenames", ()):
        try:
            snapshot = stack_snapshot(load_settings())
        except Exception as exc:  # the settings themselves may be what is broken
            snapshot = f"(no snapshot: {type(exc).__name__}: {exc})"
        report.sections.append(("stack at the failure", snapshot))
    return report
