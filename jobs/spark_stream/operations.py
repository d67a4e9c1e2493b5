"""Operating the streaming job on the local runtime: `make kafka-lag`, `make reset-checkpoint`, and the
formatter of `make logs-spark`. The job runs as stream_supervisor's submit_stream task, so a reset goes
through Airflow's REST API (pause, Variable, unpause, clear) around stopping the job and moving its folder.

    PYTHONPATH=deploy/local:. python -m jobs.spark_stream.operations kafka-lag
    PYTHONPATH=deploy/local:. python -m jobs.spark_stream.operations reset-checkpoint --from latest
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from jobs.spark_stream.checkpoint import CheckpointError, archive, last_committed_batch, local_path
from jobs.spark_stream.job_process import stop_job
from jobs.spark_stream.lag import KafkaOffsetsError, format_lag, stream_lag
from services import contracts
from stack.control_plane import AirflowApi, AirflowError
from stack.settings import RuntimeSettings, load_settings

DAG_ID = "stream_supervisor"
TASK_ID = "submit_stream"
STARTING_OFFSETS_VARIABLE = "spark_starting_offsets"
STARTING_OFFSETS_DESCRIPTION = (
    "Where the Spark job starts when its checkpoint is empty: earliest, latest or a Unix time in ms "
    "(set by make reset-checkpoint)"
)
CHECKPOINT_VARIABLE = "spark_checkpoint_dir"
EXIT_FAILED = 1
EXIT_USAGE = 2
# Task states from which a cleared task would not start at once (running: Airflow has not yet noticed the
# job's exit; clearing it then would make Airflow kill a task that is already ending).
NOT_YET_ENDED = frozenset({"running", "queued", "scheduled", "restarting", "deferred"})


class ResetError(Exception):
    """A step of the reset failed; the message names the step and what state it left behind."""


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


def checkpoint_dir(settings: RuntimeSettings, override: str | None = None) -> Path:
    """The checkpoint the Airflow-run job writes: the stack sets AIRFLOW_VAR_SPARK_CHECKPOINT_DIR to this."""
    if override:
        return local_path(override).resolve()
    return settings.var_dir / "checkpoints" / "spark_stream"


class StreamControlApi(AirflowApi):
    """The REST calls a reset needs beyond the runtime's: Variables, task states, clearing a task."""

    def set_variable(self, key: str, value: str, description: str) -> None:
        answer = self.get(f"/api/v2/variables?variable_key_pattern={key}&limit=100")
        body = {"key": key, "value": value, "description": description}
        if any(variable["key"] == key for variable in answer["variables"]):
            self._request("PATCH", f"/api/v2/variables/{key}", body)
        else:
            self._request("POST", "/api/v2/variables", body)

    def variable(self, key: str) -> str | None:
        answer = self.get(f"/api/v2/variables?variable_key_pattern={key}&limit=100")
        values = [variable["value"] for variable in answer["variables"] if variable["key"] == key]
        return str(values[0]) if values else None

    def running_run_id(self, dag_id: str) -> str | None:
        answer = self.get(f"/api/v2/dags/{dag_id}/dagRuns?state=running&order_by=-start_date&limit=1")
        runs = answer["dag_runs"]
        return str(runs[0]["dag_run_id"]) if runs else None

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


def _step(out: TextIO, number: int, text: str) -> None:
    print(f"==> {number}/5 {text}", file=out, flush=True)


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _wait_until_task_ended(api: StreamControlApi, run_id: str, timeout_s: float) -> str | None:
    deadline = time.monotonic() + timeout_s
    state = api.task_state(DAG_ID, run_id, TASK_ID)
    while state in NOT_YET_ENDED and time.monotonic() < deadline:
        time.sleep(2)
        state = api.task_state(DAG_ID, run_id, TASK_ID)
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
    api = StreamControlApi(settings)

    api.set_paused(DAG_ID, True)
    _step(out, 1, f"paused {DAG_ID}: no retry of {TASK_ID} starts while it is paused")

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

    api.set_variable(STARTING_OFFSETS_VARIABLE, starting_offsets, STARTING_OFFSETS_DESCRIPTION)
    _step(out, 4, f"Airflow Variable {STARTING_OFFSETS_VARIABLE} = {starting_offsets}")

    _step(out, 5, resume(api))
    return archived


def resume(api: StreamControlApi) -> str:
    """Unpauses the supervisor and, when its running submit task waits for a retry, clears it so the job
    starts at once; returns what it did. Raises ResetError when the task does not end within 2 minutes."""
    api.set_paused(DAG_ID, False)
    run_id = api.running_run_id(DAG_ID)
    if run_id is None:
        return f"unpaused {DAG_ID}; no run is running: the continuous schedule starts one now"
    state = _wait_until_task_ended(api, run_id, timeout_s=120)
    if state in NOT_YET_ENDED:
        raise ResetError(
            f"unpaused {DAG_ID}, but {TASK_ID} of run {run_id} is still {state} after 120 s; "
            f"it restarts after its retry delay, or clear it in the UI"
        )
    cleared = api.clear_task(DAG_ID, run_id, TASK_ID)
    return (
        f"unpaused {DAG_ID} and cleared {TASK_ID} of run {run_id} (was {state}, {cleared} cleared): "
        "the job starts within a minute (make logs-spark, make kafka-lag)"
    )


def kafka_lag(settings: RuntimeSettings, checkpoint: Path, topic: str, out: TextIO = sys.stdout) -> int:
    report = stream_lag(checkpoint, settings.kafka_bootstrap, topic)
    if report is None:
        print(f"no committed batch in {_display(checkpoint)} yet: the job has not checkpointed", file=out)
        return 0
    for line in format_lag(report):
        print(line, file=out)
    return 0


def format_log_line(line: str) -> str:
    """An Airflow task-log JSON line as `time level event`; any other line unchanged."""
    try:
        entry: Any = json.loads(line)
    except ValueError:
        return line.rstrip("\n")
    if not isinstance(entry, dict) or "event" not in entry:
        return line.rstrip("\n")
    return f"{entry.get('timestamp', '')} {str(entry.get('level', '')).upper():<7} {entry['event']}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.spark_stream.operations", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    lag = commands.add_parser("kafka-lag", help="per-partition lag of the job behind the topic")
    lag.add_argument("--topic", default=contracts.TRADES_TOPIC)
    reset = commands.add_parser("reset-checkpoint", help="archive the checkpoint and restart the job")
    reset.add_argument("--from", dest="start", default="latest", help="latest, earliest or an ISO UTC time")
    for command in (lag, reset):
        command.add_argument("--checkpoint", default=None, help="default: var/checkpoints/spark_stream")
    commands.add_parser("format-log", help="stdin Airflow JSON log lines → readable lines")
    args = parser.parse_args(argv)

    if args.command == "format-log":
        try:
            for line in sys.stdin:
                print(format_log_line(line), flush=True)
        except (KeyboardInterrupt, BrokenPipeError):
            # Ctrl-C on `make logs-spark`, or a reader such as `head` that has seen enough: a normal end.
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - nothing more is written; the flush at exit must not fail
        return 0

    prog = f"{args.command}:"
    settings = load_settings()
    if args.command == "kafka-lag":
        try:
            return kafka_lag(settings, checkpoint_dir(settings, args.checkpoint), args.topic)
        except (CheckpointError, KafkaOffsetsError) as error:
            print(f"{prog} error: {error}", file=sys.stderr)
            return EXIT_FAILED

    try:
        starting_offsets = starting_offsets_for(args.start)
        checkpoint = checkpoint_dir(settings, args.checkpoint)
    except (ValueError, CheckpointError) as error:
        print(f"{prog} {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        reset_checkpoint(settings, starting_offsets, checkpoint)
    except (CheckpointError, AirflowError, ResetError, OSError) as error:
        print(
            f"{prog} error: {error} ({DAG_ID} may be left paused: fix the cause and run "
            "make reset-checkpoint again; every step is safe to repeat)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
