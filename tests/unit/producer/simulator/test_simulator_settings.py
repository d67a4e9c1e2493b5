"""The simulator's settings: a bad value exits 2 with one line, never showing the token."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_simulator(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SIMULATOR_")}
    return subprocess.run(
        [sys.executable, "-m", "services.producer.simulator"],
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_a_bad_rate_exits_2_with_one_line_naming_the_variable() -> None:
    result = run_simulator(SIMULATOR_RATE="fast", SIMULATOR_TOKEN="tok-secret-123")
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert "SIMULATOR_RATE" in line and "tok-secret-123" not in line


def test_a_missing_replay_file_exits_2_naming_the_variable(tmp_path: Path) -> None:
    result = run_simulator(SIMULATOR_REPLAY_FILE=str(tmp_path / "absent.jsonl"))
    assert result.returncode == 2
    assert "SIMULATOR_REPLAY_FILE" in result.stderr and len(result.stderr.splitlines()) == 1


def test_a_malformed_replay_file_exits_2_naming_its_line(tmp_path: Path) -> None:
    recording = tmp_path / "bad.jsonl"
    recording.write_text('{"t_ms": 1, "frame": "{}"}\nnot json\n')
    result = run_simulator(SIMULATOR_REPLAY_FILE=str(recording))
    assert result.returncode == 2
    assert "bad.jsonl:2" in result.stderr and len(result.stderr.splitlines()) == 1
