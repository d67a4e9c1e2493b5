"""`make reset-checkpoint`'s parts that need no services: FROM values, a bad FROM refused before anything is
touched, and finding and stopping the job's processes (real processes posing as spark-submit: no Spark)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from finnhub_pipeline.stream_process import SPARK_SUBMIT_CLASS, job_processes, stop_job
from jobs.spark_stream.settings import CHECKPOINT_VARIABLE
from stack.airflow_api import AirflowError
from stack.reset_checkpoint import EXIT_USAGE, main, resume, starting_offsets_for


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("latest", "latest"),
        ("earliest", "earliest"),
        (" Latest ", "latest"),
        ("2026-11-24T10:00:00Z", "1795514400000"),
        ("2026-11-24T11:00:00+01:00", "1795514400000"),
        ("2026-11-24T10:00:00.250Z", "1795514400250"),
    ],
)
def test_from_becomes_the_jobs_starting_offsets(value: str, expected: str) -> None:
    assert starting_offsets_for(value) == expected


@pytest.mark.parametrize(
    "value", ["yesterday", "", "1795514400000", "2026-11-24T10:00:00", "2026-13-01T00:00Z"]
)
def test_from_without_a_keyword_or_a_zoned_time_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="FROM must be latest, earliest or an ISO-8601 UTC time"):
        starting_offsets_for(value)


def test_bad_from_exits_2_with_one_line_before_touching_anything(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--from", "yesterday"]) == EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("reset-checkpoint: FROM must be latest, earliest or an ISO-8601 UTC time")


def _fake_job(checkpoint: Path, cwd: Path) -> subprocess.Popen[bytes]:
    """A process whose command line looks like the job's spark-submit, with a child like the Python driver."""
    sleeper = "import time; time.sleep(120)"
    script = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {sleeper!r}]); {sleeper}"
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            script,
            SPARK_SUBMIT_CLASS,
            "--name",
            "spark_stream",
            "/x/jobs/spark_stream/main.py",
        ],
        cwd=cwd,
        env={CHECKPOINT_VARIABLE: str(checkpoint), "PATH": "/usr/bin:/bin"},
    )


@pytest.fixture
def fake_jobs(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]]:
    ours = _fake_job(tmp_path / "ours", tmp_path)
    other = _fake_job(tmp_path / "other", tmp_path)
    yield ours, other
    for process in (ours, other):
        for child in psutil.Process(process.pid).children(recursive=True) if process.poll() is None else []:
            child.kill()
        process.kill()
        process.wait(10)


def test_stop_ends_the_job_writing_the_checkpoint_and_its_children_and_spares_others(
    tmp_path: Path, fake_jobs: tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]
) -> None:
    ours, other = fake_jobs
    deadline = time.monotonic() + 10
    while len(psutil.Process(ours.pid).children()) < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    child = psutil.Process(ours.pid).children()[0]
    assert [process.pid for process in job_processes(tmp_path / "ours")] == [ours.pid]

    result = stop_job(tmp_path / "ours", grace_s=5)

    assert result.pids == (ours.pid,)
    assert result.children == 1
    assert ours.wait(5) is not None
    # The fake JVM ignores nothing but has no shutdown hook for its child, so the child needed SIGKILL.
    assert result.killed == (child.pid,)
    assert not psutil.pid_exists(child.pid) or psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE
    assert other.poll() is None


class RacingAirflow:
    """The stream task waits for a retry when looked at, and the scheduler retries it before the clear."""

    def __init__(self, after_clear_refused: str) -> None:
        self.states = iter(["up_for_retry", after_clear_refused])
        self.paused: bool | None = None

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.paused = paused

    def running_run_id(self, dag_id: str) -> str:
        return "scheduled__1"

    def task_state(self, dag_id: str, run_id: str, task_id: str) -> str:
        return next(self.states)

    def clear_task(self, dag_id: str, run_id: str, task_id: str) -> int:
        raise AirflowError("POST .../clearTaskInstances: HTTP 409 b'AirflowClearRunningTaskException'")


def test_resume_accepts_a_task_the_scheduler_restarted_before_the_clear() -> None:
    api = RacingAirflow(after_clear_refused="running")

    said = resume(api)  # type: ignore[arg-type]

    assert api.paused is False
    assert "started again by itself (running)" in said


def test_resume_still_fails_when_the_clear_is_refused_and_the_task_is_not_running() -> None:
    with pytest.raises(AirflowError, match="HTTP 409"):
        resume(RacingAirflow(after_clear_refused="failed"))  # type: ignore[arg-type]


class RetriedAtOnce(RacingAirflow):
    """Unpaused, the scheduler starts the waiting task again at once: it is running from then on."""

    def task_state(self, dag_id: str, run_id: str, task_id: str) -> str:
        return "running"


def test_resume_leaves_a_task_that_stays_running_to_run(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter(range(0, 10_000, 60))
    monkeypatch.setattr("stack.reset_checkpoint.time.monotonic", lambda: next(clock))
    monkeypatch.setattr("stack.reset_checkpoint.time.sleep", lambda seconds: None)

    said = resume(RetriedAtOnce(after_clear_refused="running"))  # type: ignore[arg-type]

    assert "is running: Airflow runs the job" in said
