"""What the alerting tests share: a real Alertmanager (the Debian binary) on a free port with its storage in a
temporary folder, and an HTTP receiver that speaks Slack's incoming-webhook format and Alertmanager's webhook
format, recording every message it takes (or answering 500 when told to)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from stack import alerting

ALERTMANAGER = (
    shutil.which("prometheus-alertmanager") or "prometheus-alertmanager (Debian package, `make install`)"
)
SLACK_PATH = "/slack/services/T000/B000/XXXXXXXX"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Message:
    kind: str  # "slack" or "webhook"
    body: dict[str, Any]
    received: float  # time.monotonic()

    @property
    def slack_titles(self) -> list[str]:
        return [str(a.get("title", "")) for a in self.body.get("attachments", [])]

    @property
    def text(self) -> str:
        return "\n".join(str(a.get("text", "")) for a in self.body.get("attachments", []))


class Receiver:
    """Slack's incoming webhook on SLACK_PATH (200 `ok`, or 400 `no_text` for a message without text or
    attachments, as Slack answers) and Alertmanager's webhook on /alerts."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.slack_status = 200
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                if self.path == SLACK_PATH:
                    if receiver.slack_status != 200:
                        self._answer(receiver.slack_status, "server_error")
                        return
                    if not (body.get("text") or body.get("attachments") or body.get("blocks")):
                        self._answer(400, "no_text")
                        return
                    receiver._record(Message("slack", body, time.monotonic()))
                elif self.path == alerting.ALERT_LOG_PATH:
                    receiver._record(Message("webhook", body, time.monotonic()))
                else:
                    self._answer(404, "no_service")
                    return
                self._answer(200, "ok")

            def _answer(self, status: int, text: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text.encode())

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _record(self, message: Message) -> None:
        with self._lock:
            self.messages.append(message)

    @property
    def slack_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{SLACK_PATH}"

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{alerting.ALERT_LOG_PATH}"

    def slack(self) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if m.kind == "slack"]

    def webhook(self) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if m.kind == "webhook"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def write_config(folder: Path, config_text: str) -> Path:
    """Alertmanager's config with the Slack template beside it, as the runtime renders them."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(alerting.SLACK_TEMPLATE, folder / alerting.SLACK_TEMPLATE.name)
    path = folder / "alertmanager.yml"
    path.write_text(config_text)
    return path


@contextmanager
def running_alertmanager(config: Path, storage: Path, port: int | None = None) -> Iterator[str]:
    """A real Alertmanager on `port` (default: a free one), clustering off; yields its base URL once ready."""
    port = port or free_port()
    log = (storage.parent / f"alertmanager-{port}.log").open("w")
    process = subprocess.Popen(
        [
            ALERTMANAGER,
            f"--config.file={config}",
            f"--storage.path={storage}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/-/ready", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"Alertmanager did not start; see {log.name}") from None
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def post_alerts(base: str, alerts: list[dict[str, Any]]) -> None:
    """Alerts as Prometheus sends them (labels, annotations), through Alertmanager's API v2."""
    request = urllib.request.Request(
        f"{base}/api/v2/alerts",
        data=json.dumps(alerts).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


def alerts(base: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{base}/api/v2/alerts", timeout=10) as response:
        return list(json.load(response))


def seconds(duration: str) -> float:
    """A Prometheus/Alertmanager duration of one unit (`15s`, `1m`, `4h`) in seconds."""
    return float(duration[:-1]) * {"s": 1, "m": 60, "h": 3600}[duration[-1]]


def route_timing(severity: str) -> dict[str, float]:
    """group_wait, group_interval and repeat_interval (seconds) of the route an alert of `severity` takes."""
    route = yaml.safe_load(alerting.ROUTES.read_text().replace("${ALERT_LOG_URL}", "http://x"))["route"]
    keys = ("group_wait", "group_interval", "repeat_interval")
    timing = {key: seconds(route[key]) for key in keys}
    for child in route.get("routes", []):
        if f'severity="{severity}"' in child["matchers"]:
            timing |= {key: seconds(child[key]) for key in keys if key in child}
    return timing
