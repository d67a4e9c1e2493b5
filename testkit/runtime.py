"""The local runtime as the tests and benchmarks drive it: `python -m stack ...` in a child process, and free
ports for the processes they start beside it.
"""

from __future__ import annotations

import socket
import subprocess
import sys

from services.layout import ROOT


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
