"""The local alert log receiver (stack.alert_log): each notification Alertmanager posts is one JSON line."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from stack import alert_log

NOTIFICATION = {
    "version": "4",
    "status": "firing",
    "receiver": "team",
    "groupLabels": {"alertname": "ProducerDown"},
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "ProducerDown", "severity": "critical", "instance": "127.0.0.1:8000"},
            "annotations": {"summary": "A producer replica is not scraped."},
            "startsAt": "2026-01-01T00:00:00Z",
        }
    ],
}


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    log = tmp_path / "log" / "alerts.log"
    server = ThreadingHTTPServer(("127.0.0.1", 0), alert_log.handler_for(alert_log.AlertLog(log)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", log
    server.shutdown()
    server.server_close()


def post(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_each_notification_is_appended_as_one_json_line(receiver: tuple[str, Path]) -> None:
    base, log = receiver
    resolved: dict[str, Any] = {**NOTIFICATION, "status": "resolved"}

    assert post(base + alert_log.PATH, json.dumps(NOTIFICATION).encode()) == 200
    assert post(base + alert_log.PATH, json.dumps(resolved).encode()) == 200

    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["status"] for line in lines] == ["firing", "resolved"]
    assert lines[0]["alerts"] == NOTIFICATION["alerts"]
    assert all(line["received_at"].endswith("+00:00") for line in lines)


def test_a_body_that_is_not_json_is_refused_and_not_logged(receiver: tuple[str, Path]) -> None:
    base, log = receiver

    assert post(base + alert_log.PATH, b"not json") == 400
    assert not log.exists()


def test_it_answers_its_health_check(receiver: tuple[str, Path]) -> None:
    base, _ = receiver

    with urllib.request.urlopen(base + "/healthz", timeout=5) as response:
        assert response.read() == b"ok"


def test_an_unwritable_log_answers_500_so_alertmanager_retries(tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the log's folder should be")
    log = alert_log.AlertLog.__new__(alert_log.AlertLog)
    log.path, log._lock = blocked / "alerts.log", threading.Lock()
    server = ThreadingHTTPServer(("127.0.0.1", 0), alert_log.handler_for(log))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}{alert_log.PATH}"
        assert post(url, json.dumps(NOTIFICATION).encode()) == 500
    finally:
        server.shutdown()
        server.server_close()


def test_the_program_log_line_names_the_status_and_alerts() -> None:
    assert alert_log.summary(NOTIFICATION) == "event=notification status=firing alerts=ProducerDown count=1"
