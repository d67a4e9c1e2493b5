"""Alertmanager's rendered configuration, checked by amtool: valid with and without a Slack webhook, and every
alert rule's labels reach the one receiver, which posts to the local alert log always and to Slack (criticals
included) when a webhook is set. docker-compose's copies are what the renderer makes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from stack import alerting
from stack.settings import RuntimeSettings
from testkit.alerting import write_config
from tests.unit.monitoring.test_prometheus_rules import alert_rules

AMTOOL = shutil.which("amtool") or "amtool (Debian package prometheus-alertmanager, `make install`)"
WEBHOOK = "https://hooks.slack.com/services/T000/B000/XXXXXXXX"


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AMTOOL, *args], capture_output=True, text=True, check=False, timeout=60)


@pytest.fixture(params=["without a webhook", "with a webhook"])
def rendered(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """The local runtime's Alertmanager config (with its Slack template beside it), and its parsed form."""
    webhook = WEBHOOK if request.param == "with a webhook" else ""
    settings = RuntimeSettings(var_dir=tmp_path, slack_webhook_url=webhook)
    text = alerting.render_local(settings)
    return write_config(tmp_path / "run" / "alertmanager", text), yaml.safe_load(text)


def test_amtool_accepts_the_rendered_config(rendered: tuple[Path, dict[str, Any]]) -> None:
    path, _ = rendered

    result = amtool("check-config", str(path))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 templates" in result.stdout


@pytest.mark.parametrize(
    "labels",
    [
        pytest.param(rule["labels"] | {"alertname": rule["alert"]}, id=rule["alert"])
        for _, rule in alert_rules()
    ],
)
def test_every_alert_rule_reaches_the_team_receiver(
    rendered: tuple[Path, dict[str, Any]], labels: dict[str, str]
) -> None:
    path, _ = rendered
    matchers = [f"{name}={value}" for name, value in labels.items()]

    result = amtool("config", "routes", "test", f"--config.file={path}", *matchers)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == [alerting.RECEIVER]


def test_the_receiver_logs_locally_always_and_posts_to_slack_only_with_a_webhook(
    rendered: tuple[Path, dict[str, Any]], request: pytest.FixtureRequest
) -> None:
    path, config = rendered
    (receiver,) = config["receivers"]

    assert receiver["webhook_configs"][0]["url"].endswith(alerting.ALERT_LOG_PATH)
    assert receiver["webhook_configs"][0]["send_resolved"] is True
    if "with a webhook" in request.node.callspec.id:
        (slack,) = receiver["slack_configs"]
        assert slack["api_url_file"] == str(path.parent / "slack_webhook_url")
        assert slack["send_resolved"] is True
        assert {"title", "title_link", "text"} <= set(slack)
    else:
        assert "slack_configs" not in receiver


def test_child_routes_inherit_the_receiver_so_criticals_reach_slack_too(
    rendered: tuple[Path, dict[str, Any]],
) -> None:
    _, config = rendered
    critical = [r for r in config["route"]["routes"] if 'severity="critical"' in r["matchers"]]

    assert all("receiver" not in route for route in config["route"]["routes"])
    assert critical and critical[0]["repeat_interval"] < config["route"]["repeat_interval"]
    assert config["route"]["group_by"] == ["alertname", "component", "instance"]


def test_amtool_shows_a_critical_alert_on_the_critical_route_of_the_team_receiver(tmp_path: Path) -> None:
    settings = RuntimeSettings(var_dir=tmp_path, slack_webhook_url=WEBHOOK)
    path = write_config(tmp_path / "am", alerting.render_local(settings))

    tree = amtool("config", "routes", "show", f"--config.file={path}")

    assert tree.returncode == 0, tree.stderr
    assert '{severity="critical"}  receiver: team' in tree.stdout


def test_inhibition_is_scoped_to_the_same_component_and_instance(
    rendered: tuple[Path, dict[str, Any]],
) -> None:
    _, config = rendered

    assert config["inhibit_rules"] == [
        {
            "source_matchers": ['severity="critical"'],
            "target_matchers": ['severity="warning"'],
            "equal": ["component", "instance"],
        }
    ]


def test_the_webhook_url_file_is_private_and_removed_when_the_webhook_is_unset(tmp_path: Path) -> None:
    config = alerting.render_local(RuntimeSettings(var_dir=tmp_path, slack_webhook_url=WEBHOOK))
    secret = alerting.slack_url_file(RuntimeSettings(var_dir=tmp_path))

    assert WEBHOOK not in config
    assert secret.read_text() == WEBHOOK
    assert secret.stat().st_mode & 0o077 == 0

    secret.chmod(0o644)
    alerting.render_local(RuntimeSettings(var_dir=tmp_path, slack_webhook_url=WEBHOOK))
    assert secret.stat().st_mode & 0o077 == 0

    alerting.render_local(RuntimeSettings(var_dir=tmp_path))
    assert not secret.exists()


def test_a_broken_slack_template_fails_amtool(tmp_path: Path) -> None:
    path = write_config(tmp_path, alerting.render_local(RuntimeSettings(var_dir=tmp_path)))
    (path.parent / alerting.SLACK_TEMPLATE.name).write_text('{{ define "pipeline.slack.title" }}{{ .Status')

    assert amtool("check-config", str(path)).returncode != 0


def test_compose_alertmanager_configs_are_the_rendered_ones() -> None:
    for name, text in alerting.compose_configs().items():
        path = alerting.COMPOSE_DIR / name
        assert path.read_text() == text, f"{path} is stale: run `.venv/bin/python -m stack.alerting compose`"


def test_amtool_accepts_the_compose_configs(tmp_path: Path) -> None:
    for name in alerting.COMPOSE_FILES:
        path = write_config(tmp_path / name, (alerting.COMPOSE_DIR / name).read_text())
        result = amtool("check-config", str(path))
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"


@pytest.mark.parametrize(
    ("remote", "docs"),
    [
        (
            "git@github.com:acme/finnhub-pipeline.git",
            "https://github.com/acme/finnhub-pipeline/blob/HEAD/docs",
        ),
        (
            "https://github.com/acme/finnhub-pipeline",
            "https://github.com/acme/finnhub-pipeline/blob/HEAD/docs",
        ),
        (
            "https://ci:token@gitlab.com/acme/data/pipeline.git",
            "https://gitlab.com/acme/data/pipeline/-/blob/HEAD/docs",
        ),
        ("ssh://git@github.com/acme/p.git", "https://github.com/acme/p/blob/HEAD/docs"),
    ],
)
def test_the_runbook_base_comes_from_a_github_or_gitlab_remote(remote: str, docs: str) -> None:
    assert alerting.docs_url(remote) == docs


@pytest.mark.parametrize("remote", ["", "/srv/git/pipeline.git", "git@git.internal:acme/p.git"])
def test_any_other_remote_links_the_runbooks_in_the_checkout(remote: str) -> None:
    assert alerting.docs_url(remote) == (alerting.ROOT / "docs").as_uri()


def test_a_set_runbook_base_url_wins(tmp_path: Path) -> None:
    settings = RuntimeSettings(var_dir=tmp_path, runbook_base_url="https://wiki.example/pipeline/docs/")

    assert alerting.runbook_base(settings) == "https://wiki.example/pipeline/docs"
