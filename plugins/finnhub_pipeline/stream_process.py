"""The running streaming job as operating-system processes, and the one way to stop it.

A job is the spark-submit JVM whose command line carries the job's entry file, with its Python children
(the driver and the executors' workers). With a checkpoint given, only the job writing that checkpoint
counts: another run of the same file (a test's or a benchmark's, with a checkpoint of its own) is left alone.
The health sensor and `make reset-checkpoint` both stop the job through `stop_job`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from jobs.spark_stream.settings import CHECKPOINT_VARIABLE, DEFAULT_CHECKPOINT_LOCATION

log = logging.getLogger(__name__)

SPARK_SUBMIT_CLASS = "org.apache.spark.deploy.SparkSubmit"
APPLICATION_SUFFIX = "jobs/spark_stream/main.py"
"""How any checkout's copy of the job's entry file ends, for finding it when no exact path is given."""


@dataclass(frozen=True)
class StopResult:
    pids: tuple[int, ...]
    """The spark-submit JVMs found."""
    children: int
    """Their descendant processes (Python driver and workers), waited for too."""
    killed: tuple[int, ...]
    """Processes still alive after the grace period, sent SIGKILL."""
    seconds: float


def _job_checkpoint(process: psutil.Process) -> Path | None:
    """The checkpoint folder the job's settings resolve to: its environment variable, else the default,
    both against the process's working directory (as the job's settings do)."""
    try:
        environ = process.environ()
        cwd = process.cwd()
    except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    location = environ.get(CHECKPOINT_VARIABLE, DEFAULT_CHECKPOINT_LOCATION)
    if "://" in location:
        return None
    return (Path(cwd) / os.path.expanduser(location.removeprefix("file:"))).resolve()


def job_processes(checkpoint: Path | None = None, application: str | None = None) -> list[psutil.Process]:
    """spark-submit JVMs running the job: `application` exactly when given, else any path ending in
    APPLICATION_SUFFIX; when `checkpoint` is given, only those writing it."""
    wanted = checkpoint.resolve() if checkpoint is not None else None
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = process.info.get("cmdline") or []
        if SPARK_SUBMIT_CLASS not in cmdline:
            continue
        if application is not None:
            if application not in cmdline:
                continue
        elif not any(argument.endswith(APPLICATION_SUFFIX) for argument in cmdline):
            continue
        if wanted is None or _job_checkpoint(process) == wanted:
            found.append(process)
    return found


def stop_job(
    checkpoint: Path | None = None, application: str | None = None, grace_s: float = 60
) -> StopResult:
    """SIGTERM the job's JVMs (Spark's shutdown hook stops the query between writes), wait for them and all
    their descendants to exit, SIGKILL whatever is left after `grace_s`."""
    started = time.monotonic()
    jvms = job_processes(checkpoint, application)
    family: dict[int, psutil.Process] = {process.pid: process for process in jvms}
    for jvm in jvms:
        with contextlib.suppress(psutil.NoSuchProcess):
            family.update({child.pid: child for child in jvm.children(recursive=True)})
    for jvm in jvms:
        log.warning("event=stream_stop pid=%d signal=SIGTERM checkpoint=%s", jvm.pid, checkpoint)
        with contextlib.suppress(psutil.NoSuchProcess):
            jvm.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(list(family.values()), timeout=grace_s)
    for process in alive:
        log.warning("event=stream_stop pid=%d signal=SIGKILL after=%.0fs", process.pid, grace_s)
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(alive, timeout=15)
    return StopResult(
        pids=tuple(jvm.pid for jvm in jvms),
        children=len(family) - len(jvms),
        killed=tuple(process.pid for process in alive),
        seconds=time.monotonic() - started,
    )
