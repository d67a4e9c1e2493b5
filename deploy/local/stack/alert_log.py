"""The local alert log: Alertmanager's webhook receiver that appends each notification as one JSON line.

Alertmanager's `team` receiver always posts here (stack/alerting.py), so firing and resolved alerts are on
disk (var/log/alerts.log) with or without Slack. Standard library only: docker-compose runs this file as
it is in a plain Python image (`python alert_log.py --host 0.0.0.0 ...`).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PATH = "/alerts"
MAX_BODY_BYTES = 4 * 1024 * 1024
"""Far above a notification of a few hundred alerts; a larger body is refused, not read."""


def log_line(payload: dict[str, Any], received_at: datetime) -> str:
    """One notification as the line written to the log: Alertmanager's payload plus when it arrived."""
    return json.dumps({"received_at": received_at.isoformat(), **payload}, separators=(",", ":")) + "\n"


def summary(payload: dict[str, Any]) -> str:
    """A one-line event for the program's own log."""
    alerts = payload.get("alerts") or []
    names = sorted({str(alert.get("labels", {}).get("alertname", "?")) for alert in alerts})
    return (
        f"event=notification status={payload.get('status', '?')} alerts={','.join(names) or '-'} "
        f"count={len(alerts)}"
    )


class AlertLog:
    """Appends lines to the log file, one writer at a time (the server answers requests in threads)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, payload: dict[str, Any]) -> None:
        line = log_line(payload, datetime.now(UTC))
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write(line)


def handler_for(alert_log: AlertLog) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._answer(200, "ok")
            else:
                self._answer(404, "not found")

        def do_POST(self) -> None:
            if self.path != PATH:
                self._answer(404, f"post notifications to {PATH}")
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self._answer(413, "notification too large")
                return
            try:
                payload = json.loads(self.rfile.read(length))
                if not isinstance(payload, dict):
                    raise ValueError("not a JSON object")
            except ValueError as exc:
                # Alertmanager retries a 4xx never: the bad body is reported once here, not lost silently.
                print(f"event=bad_notification error={exc!s:.200}", flush=True)
                self._answer(400, "body must be Alertmanager's webhook JSON")
                return
            try:
                alert_log.append(payload)
            except OSError as exc:
                # A 5xx makes Alertmanager retry; the failure counts in its notifications_failed_total.
                print(f"event=write_failed path={alert_log.path} error={exc}", flush=True)
                self._answer(500, "cannot write the alert log")
                return
            print(summary(payload), flush=True)
            self._answer(200, "ok")

        def _answer(self, status: int, text: str) -> None:
            body = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per notification (above), no access log

    return Handler


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="alert_log", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--log", type=Path, required=True, help="the JSON-lines file, e.g. var/log/alerts.log"
    )
    args = parser.parse_args(argv)
    alert_log = AlertLog(args.log)
    server = ThreadingHTTPServer((args.host, args.port), handler_for(alert_log))
    print(f"event=listening address={args.host}:{args.port} path={PATH} log={args.log}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
