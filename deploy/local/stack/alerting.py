"""Alertmanager's configuration and the alerts' runbook base URL, for the local runtime and docker-compose.

The routes are monitoring/alertmanager/alertmanager.yml; this adds the one receiver's targets: always the
local alert log, and Slack (URL from a 0600 file) when SLACK_WEBHOOK_URL is set. docker-compose mounts the
same configuration written by `python -m stack.alerting compose` into deploy/docker/alertmanager/.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from string import Template
from typing import Any

import yaml

from .settings import LOCALHOST, ROOT, RuntimeSettings

MONITORING = ROOT / "monitoring" / "alertmanager"
ROUTES = MONITORING / "alertmanager.yml"
SLACK_TEMPLATE = MONITORING / "slack.tmpl"
RECEIVER = "team"
ALERT_LOG_PATH = "/alerts"
"""Where the alert log receiver (stack.alert_log) takes Alertmanager's webhook posts."""

COMPOSE_DIR = ROOT / "deploy" / "docker" / "alertmanager"
COMPOSE_ALERT_LOG_URL = f"http://alert-log:9095{ALERT_LOG_PATH}"
COMPOSE_SLACK_URL_FILE = "/run/secrets/slack_webhook_url"
COMPOSE_FILES = {"alertmanager.yml": None, "alertmanager-slack.yml": COMPOSE_SLACK_URL_FILE}
"""docker-compose's two configurations: without Slack, and with Slack reading the compose secret."""

GENERATED = "# Rendered by stack/alerting.py from monitoring/alertmanager/alertmanager.yml: edit that.\n"

# Slack's incoming-webhook message: the templates are in monitoring/alertmanager/slack.tmpl.
SLACK_FIELDS = {
    "send_resolved": True,
    "title": '{{ template "pipeline.slack.title" . }}',
    "title_link": '{{ template "pipeline.slack.title_link" . }}',
    "text": '{{ template "pipeline.slack.text" . }}',
    "color": '{{ template "pipeline.slack.color" . }}',
    "fallback": '{{ template "pipeline.slack.title" . }}',
}

_GIT_REMOTE = re.compile(
    r"^(?:https?://(?:[^@/]+@)?|ssh://(?:[^@/]+@)?|[^@/]+@)(?P<host>github\.com|gitlab\.com)[:/]"
    r"(?P<path>[^\s]+?)(?:\.git)?/?$"
)


def alertmanager_config(alert_log_url: str, slack_url_file: str | None) -> dict[str, Any]:
    """The routes with the `team` receiver: the alert log always, Slack when `slack_url_file` is given."""
    text = Template(ROUTES.read_text()).substitute(ALERT_LOG_URL=alert_log_url)
    config: dict[str, Any] = yaml.safe_load(text)
    (receiver,) = [r for r in config["receivers"] if r["name"] == RECEIVER]
    if slack_url_file is not None:
        receiver["slack_configs"] = [{"api_url_file": slack_url_file, **SLACK_FIELDS}]
    return config


def dump(config: dict[str, Any]) -> str:
    return GENERATED + yaml.safe_dump(config, sort_keys=False, width=120)


def alert_log_url(settings: RuntimeSettings) -> str:
    return f"http://{LOCALHOST}:{settings.alert_log_port}{ALERT_LOG_PATH}"


def slack_url_file(settings: RuntimeSettings) -> Path:
    return settings.var_dir / "run" / "alertmanager" / "slack_webhook_url"


def render_local(settings: RuntimeSettings) -> str:
    """The local Alertmanager's config; writes (or removes) the 0600 file holding the Slack webhook URL.

    The URL is a secret: it goes into that file, which Alertmanager reads, never into the config.
    """
    secret = slack_url_file(settings)
    webhook = settings.slack_webhook_url.get_secret_value()
    if webhook:
        secret.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)  # also when the file existed with a wider mode
        with os.fdopen(descriptor, "w") as out:
            out.write(webhook)
    else:
        secret.unlink(missing_ok=True)
    return dump(alertmanager_config(alert_log_url(settings), str(secret) if webhook else None))


def compose_configs() -> dict[str, str]:
    """File name -> text of docker-compose's configurations (deploy/docker/alertmanager/)."""
    return {
        name: dump(alertmanager_config(COMPOSE_ALERT_LOG_URL, url_file))
        for name, url_file in COMPOSE_FILES.items()
    }


def runbook_base(settings: RuntimeSettings) -> str:
    """Where docs/ opens, for the alerts' runbook links: RUNBOOK_BASE_URL, else the repository's docs on
    GitHub or GitLab (from `git remote get-url origin`, default branch), else the checkout's docs/."""
    if settings.runbook_base_url:
        return settings.runbook_base_url
    try:
        remote = subprocess.run(
            ["git", "-C", str(ROOT), "remote", "get-url", "origin"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        remote = ""
    return docs_url(remote)


def docs_url(remote: str) -> str:
    """The docs/ folder's URL for a git remote; the checkout's docs/ as a file:// URL for any other."""
    found = _GIT_REMOTE.match(remote.strip())
    if found is None:
        return (ROOT / "docs").as_uri()
    separator = "/-/blob/" if found["host"] == "gitlab.com" else "/blob/"
    # HEAD: the repository's default branch on both hosts, so a link outlives the branch it was made on.
    return f"https://{found['host']}/{found['path']}{separator}HEAD/docs"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stack.alerting", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "compose", help="write docker-compose's Alertmanager configs into deploy/docker/alertmanager/"
    )
    parser.parse_args(argv)
    COMPOSE_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in compose_configs().items():
        (COMPOSE_DIR / name).write_text(text)
        print(f"wrote {(COMPOSE_DIR / name).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
