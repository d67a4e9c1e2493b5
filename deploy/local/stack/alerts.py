"""`make alerts`: the alerts Alertmanager holds and whether their notifications got out, offline.

Reads Alertmanager's API (alerts with their inhibited/silenced state, the receivers of its running config)
and its own metrics (`alertmanager_notifications_total` / `_failed_total` by integration), and names the
local alert log. Nothing here needs Slack or the internet.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from services.configuration import ConfigError, exit_on_config_error

from .settings import LOCALHOST, RuntimeSettings, load_settings

ALERT_LOG_NAME = "alerts.log"


class AlertmanagerUnreachable(Exception):
    """Alertmanager did not answer; the message says where it was asked and where to look."""


@dataclass(frozen=True)
class Delivery:
    integration: str
    notifications: int
    failed: int


def _get(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return bytes(response.read())
    except (urllib.error.URLError, OSError) as exc:
        raise AlertmanagerUnreachable(f"{url}: {getattr(exc, 'reason', exc)}") from None


def _age(since: datetime, now: datetime) -> str:
    seconds = max(0, int((now - since).total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def _parse_time(value: str) -> datetime:
    # Alertmanager writes RFC 3339 with nanoseconds; Python reads at most microseconds.
    return datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", value.replace("Z", "+00:00")))


def alert_rows(alerts: Iterable[dict[str, Any]], now: datetime) -> list[tuple[str, ...]]:
    """One row per alert: name, severity, component, instance, since, state, summary; criticals first."""
    alerts = list(alerts)
    names = {alert["fingerprint"]: alert["labels"].get("alertname", "?") for alert in alerts}
    rows = []
    for alert in alerts:
        labels, status = alert["labels"], alert["status"]
        state = str(status["state"])
        if status.get("inhibitedBy"):
            state = "inhibited by " + ",".join(sorted({names.get(f, f) for f in status["inhibitedBy"]}))
        if status.get("silencedBy"):
            state = "silenced (" + ",".join(status["silencedBy"]) + ")"
        since = _parse_time(alert["startsAt"])
        rows.append(
            (
                labels.get("alertname", "?"),
                labels.get("severity", "-"),
                labels.get("component", "-"),
                labels.get("instance", "-"),
                f"{since:%Y-%m-%d %H:%M}Z ({_age(since, now)} ago)",
                state,
                alert.get("annotations", {}).get("summary", ""),
            )
        )
    order = {"critical": 0, "warning": 1}
    return sorted(rows, key=lambda row: (order.get(row[1], 2), row[0], row[3]))


def deliveries(metrics_text: str) -> list[Delivery]:
    """Notifications and failed notifications per integration, from Alertmanager's /metrics."""
    sent: dict[str, float] = {}
    failed: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        target = {"alertmanager_notifications": sent, "alertmanager_notifications_failed": failed}.get(
            family.name
        )
        if target is None:
            continue
        for sample in family.samples:
            if sample.name.endswith("_total"):
                integration = sample.labels.get("integration", "?")
                target[integration] = target.get(integration, 0.0) + sample.value
    return [
        Delivery(name, int(sent.get(name, 0)), int(failed.get(name, 0)))
        for name in sorted(set(sent) | set(failed))
    ]


def receivers(config_yaml: str) -> dict[str, list[str]]:
    """Receiver -> its integrations (webhook, slack, ...) in Alertmanager's running config."""
    config = yaml.safe_load(config_yaml) or {}
    return {
        receiver["name"]: sorted(key.removesuffix("_configs") for key in receiver if key.endswith("_configs"))
        for receiver in config.get("receivers", [])
    }


def table(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1]
        for row in rows
    ]


def report(base_url: str, alert_log: Path, now: datetime | None = None) -> list[str]:
    """The lines `make alerts` prints; raises AlertmanagerUnreachable."""
    now = now or datetime.now(UTC)
    alerts = json.loads(_get(f"{base_url}/api/v2/alerts"))
    status = json.loads(_get(f"{base_url}/api/v2/status"))
    metrics = _get(f"{base_url}/metrics").decode()
    routes = receivers(status.get("config", {}).get("original", ""))

    lines = [
        f"Alertmanager {base_url}: receivers "
        + "; ".join(f"{r} -> {', '.join(i)}" for r, i in routes.items())
    ]
    rows = alert_rows(alerts, now)
    lines.append("")
    if rows:
        lines.append(f"alerts ({len(rows)}; 'inhibited'/'silenced' ones are not notified):")
        header = ("ALERT", "SEVERITY", "COMPONENT", "INSTANCE", "SINCE", "STATE", "SUMMARY")
        lines += ["  " + line for line in table([header, *rows])]
    else:
        lines.append("no alert is firing")

    lines.append("")
    delivered = [d for d in deliveries(metrics) if d.notifications or d.failed]
    if delivered:
        lines.append("notifications since Alertmanager started:")
        lines.append("  (FAILED: given up after retries until the group's next interval, which tries again)")
        counts = [("INTEGRATION", "ATTEMPTS", "FAILED")]
        counts += [(d.integration, str(d.notifications), str(d.failed)) for d in delivered]
        lines += ["  " + line for line in table(counts)]
        failing = [d.integration for d in delivered if d.failed]
        if failing:
            where = "var/log/alertmanager.log (`make logs-alertmanager`)"
            lines.append(f"  delivery failures: {', '.join(failing)}; Alertmanager logs each one in {where}")
    else:
        lines.append("no notification sent since Alertmanager started")

    if alert_log.exists():
        notifications = alert_log.read_text(encoding="utf-8").splitlines()
        last = json.loads(notifications[-1])["received_at"] if notifications else "never"
        lines.append(f"local alert log: {alert_log} ({len(notifications)} notifications, last {last})")
    else:
        lines.append(f"local alert log: {alert_log} (none yet)")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stack.alerts", description=__doc__)
    parser.add_argument("--alertmanager", help="base URL (default: the local runtime's Alertmanager)")
    args = parser.parse_args(argv)
    try:
        settings: RuntimeSettings = load_settings()
    except ConfigError as error:
        exit_on_config_error("alerts", error)
    base_url = (args.alertmanager or f"http://{LOCALHOST}:{settings.alertmanager_port}").rstrip("/")
    try:
        lines = report(base_url, settings.var_dir / "log" / ALERT_LOG_NAME)
    except AlertmanagerUnreachable as exc:
        print(
            f"error: Alertmanager does not answer ({exc}); `make status`, var/log/alertmanager.log",
            file=sys.stderr,
        )
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
