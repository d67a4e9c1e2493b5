"""A thin client of the local supervisord: start it, ask it about its programs, stop it."""

from __future__ import annotations

import subprocess
import sys
import time
import xmlrpc.client
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supervisor.xmlrpc import SupervisorTransport


@dataclass(frozen=True)
class ProgramState:
    name: str
    state: str  # supervisor's state name: RUNNING, STARTING, BACKOFF, FATAL, STOPPED, EXITED, ...
    pid: int  # 0 when not running


class Supervisor:
    """The supervisord whose config is `conf` (var/run/supervisord.conf)."""

    def __init__(self, conf: Path) -> None:
        self.conf = conf
        self.socket = conf.parent / "supervisor.sock"

    def _rpc(self) -> Any:
        transport = SupervisorTransport(None, None, f"unix://{self.socket}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor

    def is_running(self) -> bool:
        try:
            return self._rpc().getState()["statename"] == "RUNNING"
        except (OSError, xmlrpc.client.Fault):
            return False

    def start(self) -> None:
        """Starts supervisord (it daemonizes), or makes a running one pick up changed program files."""
        if self.is_running():
            self.ctl("update")  # adds new programs, restarts changed ones, leaves the rest alone
            return
        result = subprocess.run(
            [sys.executable, "-m", "supervisor.supervisord", "-c", str(self.conf)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            reason = (result.stderr or result.stdout).strip().splitlines()
            raise RuntimeError(f"supervisord did not start: {reason[0] if reason else result.returncode}")
        deadline = time.monotonic() + 15
        while not self.is_running():
            if time.monotonic() > deadline:
                raise RuntimeError(f"supervisord did not start; see {self.conf.parent.parent / 'log'}")
            time.sleep(0.2)

    def start_programs(self, names: list[str]) -> None:
        """Starts the named programs that are not running (supervisord's autostart=false ones, or stopped)."""
        running = {name for name, state in self.programs().items() if state.state in ("RUNNING", "STARTING")}
        pending = [name for name in names if name not in running]
        if pending:
            self.ctl("start", *pending)

    def stop_programs(self, names: list[str]) -> None:
        """Stops the named programs that are running."""
        running = [
            n for n, state in self.programs().items() if n in names and state.state in ("RUNNING", "STARTING")
        ]
        if running:
            self.ctl("stop", *running)

    def programs(self) -> dict[str, ProgramState]:
        if not self.is_running():
            return {}
        return {
            info["name"]: ProgramState(info["name"], info["statename"], info["pid"])
            for info in self._rpc().getAllProcessInfo()
        }

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "supervisor.supervisorctl", "-c", str(self.conf), *args],
            capture_output=True,
            text=True,
            check=False,
        )

    def shutdown(self, timeout_s: float = 120) -> None:
        """Stops every program (each gets its stopwaitsecs to exit cleanly), then supervisord itself."""
        if not self.is_running():
            return
        self._rpc().stopAllProcesses(True)
        self._rpc().shutdown()
        deadline = time.monotonic() + timeout_s
        while self.socket.exists() and self.is_running() and time.monotonic() < deadline:
            time.sleep(0.2)
