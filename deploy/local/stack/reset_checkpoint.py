"""`make reset-checkpoint FROM=...` (`python -m stack.reset_checkpoint --from latest`): restart the streaming
job on a fresh checkpoint. The job runs as stream_supervisor's submit_stream task, so the reset goes through
Airflow's REST API (pause, Variable, unpause, clear) around stopping the job and moving its folder aside.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TextIO

from finnhub_pipeline import variables
from finnhub_pipeline.stream_process import stop_job

from .airflow_api import STREAM_DAG, STREAM_TASK, AirflowApi, AirflowError
from .checkpoint import CheckpointError, archive, job_checkpoint, last_committed_batch
from .settings import RuntimeSettings

PROGRAM = "reset-checkpoint"
EXIT_FAILED = 1
EXIT_USAGE = 2
# Task states from which a cleared task would not start at once (running: Airflow has not yet noticed the
# job's exit; clearing it then would make Airflow kill a task that is already ending).
NOT_YET_ENDED = frozenset({"running", "queued", "scheduled", "restarting", "deferred"})


def starting_offsets_for(value: str) -> str:
    """`FROM` → the job's SPARK_STREAM_STARTING_OFFSETS: `earliest`, `latest` or a Unix time in ms.

    A time must carry its zone (`Z` or `+00:00`), so a local time is never taken for UTC by mistake.
    """
    cleaned = value.strip()
    if cleaned.lower() in ("earliest", "latest"):
        return cleaned.lower()
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValueError(
            "FROM must be latest, earliest or an ISO-8601 UTC time such as 2026-11-24T10:00:00Z, "
            f"not {value!r}"
        )
    return str(round(moment.timestamp() * 1000))


def _step(out: TextIO, number: int, text: str) -> None:
    print(f"==> {number}/5 {text}", file=out, flush=True)


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _wait_until_task_ended(api: AirflowApi, run_id: str, timeout_s: float) -> str | None:
    deadline = time.monotonic() + timeout_s
    state = api.task_state(STREAM_DAG, run_id, STREAM_TASK)
    while state in NOT_YET_ENDED and time.monotonic() < deadline:
        time.sleep(2)
        state = api.task_state(STREAM_DAG, run_id, STREAM_TASK)
    return state


def reset_checkpoint(
    settings: RuntimeSettings,
    starting_offsets: str,
    checkpoint: Path,
    out: TextIO = sys.stdout,
    stop_grace_s: float = 60,
) -> Path | None:
    """Pauses the supervisor, stops the job, archives its checkpoint, sets where the next query starts,
    unpauses and restarts the job's task at once. Returns the archive folder (None: there was no checkpoint).

    Re-running it after a failure is safe: every step accepts the state a previous attempt left.
    """
    api = AirflowApi(settings)

    api.set_paused(STREAM_DAG, True)
    _step(out, 1, f"paused {STREAM_DAG}: no retry of {STREAM_TASK} starts while it is paused")

    stopped = stop_job(checkpoint, grace_s=stop_grace_s)
    if stopped.pids:
        killed = f"; SIGKILL after {stop_grace_s:.0f} s: {list(stopped.killed)}" if stopped.killed else ""
        _step(
            out,
            2,
            f"stopped the job: SIGTERM to spark-submit pid {', '.join(map(str, stopped.pids))}, "
            f"it and {stopped.children} child processes exited in {stopped.seconds:.0f} s{killed}",
        )
    else:
        _step(out, 2, f"no running job writes {_display(checkpoint)}: nothing to stop")

    archived: Path | None = None
    if checkpoint.exists():
        batch = last_committed_batch(checkpoint)
        archived = archive(checkpoint, checkpoint.parent / "archive")
        _step(
            out,
            3,
            f"moved the checkpoint (last committed batch {batch}) to {_display(archived)}/",
        )
    else:
        _step(out, 3, f"no checkpoint at {_display(checkpoint)}: nothing to archive")

    api.set_variable(variables.SPARK_STARTING_OFFSETS, starting_offsets)
    _step(out, 4, f"Airflow Variable {variables.SPARK_STARTING_OFFSETS.key} = {starting_offsets}")

    _step(out, 5, resume(api))
    return archived


def resume(api: AirflowApi) -> str:
    """Unpauses the supervisor and, when its running submit task waits for a retry, clears it so the job
    starts at once; returns what it did. A task still (or again) running after 2 minutes is left to run."""
    api.set_paused(STREAM_DAG, False)
    run_id = api.running_run_id(STREAM_DAG)
    if run_id is None:
        return f"unpaused {STREAM_DAG}; no run is running: the continuous schedule starts one now"
    state = _wait_until_task_ended(api, run_id, timeout_s=120)
    if state in NOT_YET_ENDED:
        # Unpaused, the scheduler ran the task again by itself (or will, after its retry delay).
        return f"unpaused {STREAM_DAG}; {STREAM_TASK} of run {run_id} is {state}: Airflow runs the job"
    try:
        cleared = api.clear_task(STREAM_DAG, run_id, STREAM_TASK)
    except AirflowError:
        # Between the look and the clear, the scheduler may have retried the task itself: then it runs.
        now = api.task_state(STREAM_DAG, run_id, STREAM_TASK)
        if now not in NOT_YET_ENDED:
            raise
        return f"unpaused {STREAM_DAG}; {STREAM_TASK} of run {run_id} started again by itself ({now})"
    return (
        f"unpaused {STREAM_DAG} and cleared {STREAM_TASK} of run {run_id} (was {state}, {cleared} cleared): "
        "the job starts within a minute (make logs-spark, make kafka-lag)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.reset_checkpoint", description=__doc__)
    parser.add_argument("--from", dest="start", default="latest", help="latest, earliest or an ISO UTC time")
    parser.add_argument("--checkpoint", default=None, help="default: var/checkpoints/spark_stream")
    args = parser.parse_args(argv)

    # FROM first: a typo stops here, before anything is read or touched.
    try:
        starting_offsets = starting_offsets_for(args.start)
    except ValueError as error:
        print(f"{PROGRAM}: {error}", file=sys.stderr)
        return EXIT_USAGE
    settings = RuntimeSettings.load_or_exit(PROGRAM)
    try:
        checkpoint = job_checkpoint(settings.var_dir, args.checkpoint)
    except CheckpointError as error:
        print(f"{PROGRAM}: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        reset_checkpoint(settings, starting_offsets, checkpoint)
    except (CheckpointError, AirflowError, OSError) as error:
        print(
            f"{PROGRAM}: error: {error} ({STREAM_DAG} may be left paused: fix the cause and run "
            "make reset-checkpoint again; every step is safe to repeat)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
