"""The local runtime as the tests and benchmarks drive it: `python -m stack ...` in a child process, the
running stack's settings and supervisord, and free ports for the processes they start beside it.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.request
from typing import Any

from finnhub_pipeline.stream_process import job_processes
from services.configuration import ConfigError, exit_on_config_error
from services.layout import ROOT
from stack.settings import RuntimeSettings, load_settings
from stack.supervisor import Supervisor


def run_stack(*args: str, timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
    """`python -m stack <args>` from the checkout, as `make` runs it; its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "stack", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def free_port() -> int:
    """A TCP port nothing listens on right now (for a process of a test or a benchmark)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def running_settings(program: str) -> RuntimeSettings:
    """The settings of the stack as it runs (the running topology's, as `make status` sees it), or the one
    line of a configuration error under `program`'s name and exit status 2."""
    try:
        return load_settings()
    except ConfigError as error:
        exit_on_config_error(program, error)


def require_stream_job(settings: RuntimeSettings, program: str) -> None:
    """Exits with one line under `program`'s name unless the stack's Spark job (Airflow's) is running."""
    if not job_processes(settings.checkpoint_dir):
        raise SystemExit(
            f"{program}: the stack's Spark job is not running (no spark-submit writing "
            f"{settings.checkpoint_dir}); is stream_supervisor unpaused? (make status, make logs-spark)"
        )


def simulator_control(settings: RuntimeSettings, action: str) -> dict[str, Any]:
    """The answer of the stack's simulator's control endpoint to `action` (`stats`, `silence?seconds=60`,
    `resume`, ...)."""
    url = f"http://127.0.0.1:{settings.simulator_port}/control/{action}"
    with urllib.request.urlopen(url, timeout=10) as response:
        answer: dict[str, Any] = json.load(response)
    return answer


def stack_supervisor(settings: RuntimeSettings) -> Supervisor:
    """The supervisord that runs the stack's programs (the one `stack up` starts)."""
    return Supervisor(settings.var_dir / "run" / "supervisord.conf")
