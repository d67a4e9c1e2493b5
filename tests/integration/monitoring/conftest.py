"""The live alerting tests' own Prometheus and Alertmanager, beside the stack's, once per session.

The pair reads what the stack's Prometheus reads (the same rendered rule files, the same scrape targets, the
same external labels) and its Alertmanager has the runtime's routes rendered with SLACK_WEBHOOK_URL pointing
at a receiver the test runs. So a failure the test causes reaches that receiver exactly as it would reach
Slack, and the stack's own Prometheus, Alertmanager and alert log are never reconfigured or restarted.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stack import alerting, render
from stack.settings import RuntimeSettings
from testkit.alerting import Receiver, free_port, running_alertmanager, write_config

SCRAPE_INTERVAL_S = 15.0
EVALUATION_INTERVAL_S = 15.0
"""Both as monitoring/prometheus/prometheus.yml sets them."""


@dataclass(frozen=True)
class AlertingPair:
    prometheus: str  # base URL
    alertmanager: str
    receiver: Receiver

    def query(self, promql: str) -> list[dict[str, Any]]:
        url = f"{self.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=10) as response:
            return list(json.load(response)["data"]["result"])

    def firing(self, alertname: str) -> list[dict[str, Any]]:
        """The pair's Prometheus alerts of that name, firing now."""
        with urllib.request.urlopen(f"{self.prometheus}/api/v1/alerts", timeout=10) as response:
            alerts = json.load(response)["data"]["alerts"]
        return [a for a in alerts if a["labels"]["alertname"] == alertname and a["state"] == "firing"]


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    """One HTTP receiver for the session: Slack's incoming-webhook format and the alert log's webhook."""
    server = Receiver()
    yield server
    server.close()


@pytest.fixture(scope="session")
def alerting_pair(
    runtime: RuntimeSettings, receiver: Receiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AlertingPair]:
    """A Prometheus and an Alertmanager of the test's, on free ports, started once per session."""
    folder = tmp_path_factory.mktemp("alerting-pair")
    prometheus_port, alertmanager_port = free_port(), free_port()
    # The runtime's settings with the pair's ports; its Alertmanager posts to the test's receiver, as Slack
    # (SLACK_WEBHOOK_URL=http://127.0.0.1:<port>/...) and as the alert log.
    pair = runtime.model_copy(
        update={"prometheus_port": prometheus_port, "alertmanager_port": alertmanager_port}
    )
    pair_with_slack = RuntimeSettings(
        var_dir=folder, alert_log_port=receiver.port, slack_webhook_url=receiver.slack_url
    )
    config = write_config(folder / "run" / "alertmanager", alerting.render_local(pair_with_slack))
    # The same rules (the stack's rendered copies), targets and external labels as the stack's Prometheus.
    (folder / "prometheus.yml").write_text(render.prometheus_config(pair))
    log = (folder / "prometheus.log").open("w")
    prometheus = subprocess.Popen(
        [
            shutil.which("prometheus") or "prometheus (Debian package, `make install`)",
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        with running_alertmanager(config, folder / "alertmanager-data", alertmanager_port) as alertmanager:
            base = f"http://127.0.0.1:{prometheus_port}"
            _wait_ready(base, prometheus, folder / "prometheus.log")
            yield AlertingPair(base, alertmanager, receiver)
    finally:
        prometheus.terminate()
        prometheus.wait(timeout=60)
        log.close()


def _wait_ready(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{base}/-/ready", timeout=2):
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the test's Prometheus did not start; see {log}") from None
            time.sleep(0.5)
