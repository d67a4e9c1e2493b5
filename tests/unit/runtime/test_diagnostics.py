"""The stack snapshot a failed integration test's report carries: each part read on its own."""

from __future__ import annotations

from pathlib import Path

from stack.settings import RuntimeSettings
from testkit.diagnostics import stack_snapshot
from testkit.runtime import free_port


def test_a_stack_that_is_not_running_is_described_part_by_part_without_raising(tmp_path: Path) -> None:
    settings = RuntimeSettings(
        var_dir=tmp_path, simulator_port=free_port(), producer_metrics_port=free_port()
    )

    snapshot = stack_snapshot(settings)

    assert snapshot.splitlines()[:2] == ["--- supervisord", "(not running)"]
    assert "--- simulator\n(unreadable: URLError" in snapshot
    producer = f"127.0.0.1:{settings.producer_metrics_port}"
    assert f"--- producer metrics ({producer})\n(unreadable: URLError" in snapshot
