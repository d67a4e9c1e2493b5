"""The running job as operating-system processes: the spark-submit JVM of `jobs/spark_stream/main.py` that
writes a given checkpoint, and its Python children (the driver and the executors' workers).

`make reset-checkpoint` stops it with these before moving the checkpoint away. Other spark-submits of the
same file (tests with a checkpoint of their own) are left alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from jobs.spark_stream.settings import DEFAULT_CHECKPOINT_LOCATION

SPARK_SUBMIT_CLASS = "org.apache.spark.deploy.SparkSubmit"
APPLICATION_SUFFIX = "jobs/spark_stream/main.py"
CHECKPOINT_VARIABLE = "SPARK_STREAM_CHECKPOINT_LOCATION"


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
    both against the process's working directory (as `StreamSettings` does)."""
    try:
        environ = process.environ()
        cwd = process.cwd()
    except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    location = environ.get(CHECKPOINT_VARIABLE, DEFAULT_CHECKPOINT_LOCATION)
    if "://" in location:
        return None
    return (Path(cwd) / os.path.expanduser(location.removeprefix("file:"))).resolve()


def job_processes(checkpoint: Path) -> list[psutil.Process]:
    """spark-submit JVMs running the job's main.py with `checkpoint` as their checkpoint."""
    wanted = checkpoint.resolve()
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = process.info.get("cmdline") or []
        if SPARK_SUBMIT_CLASS not in cmdline:
            continue
        if not any(argument.endswith(APPLICATION_SUFFIX) for argument in cmdline):
            continue
        if _job_checkpoint(process) == wanted:
            found.append(process)
    return found


def stop_job(checkpoint: Path, grace_s: float = 60) -> StopResult:
    """SIGTERM (Spark's shutdown hook stops the query between writes), wait for the JVMs and all their
    descendants to exit, SIGKILL whatever is left after `grace_s`."""
    started = time.monotonic()
    jvms = job_processes(checkpoint)
    family: dict[int, psutil.Process] = {process.pid: process for process in jvms}
    for jvm in jvms:
        with contextlib.suppress(psutil.NoSuchProcess):
            family.update({child.pid: child for child in jvm.children(recursive=True)})
    for jvm in jvms:
        with contextlib.suppress(psutil.NoSuchProcess):
            jvm.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(list(family.values()), timeout=grace_s)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(alive, timeout=15)
    return StopResult(
        pids=tuple(jvm.pid for jvm in jvms),
        children=len(family) - len(jvms),
        killed=tuple(process.pid for process in alive),
        seconds=time.monotonic() - started,
    )
