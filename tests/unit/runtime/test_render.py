"""Rendering of the runtime's configs: every placeholder filled, program defaults added, secrets kept out."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from stack import render
from stack.settings import RuntimeSettings


@pytest.fixture
def rendered(installed: Path) -> Path:
    render.render_all(RuntimeSettings(var_dir=installed, kafka_port=19092))
    return installed / "run"


def test_no_rendered_file_keeps_a_placeholder(rendered: Path) -> None:
    leftovers = [p for p in rendered.rglob("*") if p.is_file() and "${" in p.read_text()]

    assert leftovers == []


def test_settings_reach_the_engine_configs(rendered: Path) -> None:
    server = (rendered / "kafka" / "server.properties").read_text()

    assert "listeners=PLAINTEXT://127.0.0.1:19092," in server
    assert f"log.dirs={rendered.parent / 'data' / 'kafka'}" in server


def test_every_program_gets_the_shared_restart_and_log_keys(rendered: Path) -> None:
    for conf in (rendered / "programs").glob("*.conf"):
        parser = configparser.RawConfigParser()
        parser.read(conf)
        (section,) = parser.sections()
        assert parser.get(section, "autorestart") == "true", conf
        assert parser.get(section, "stdout_logfile").endswith("%(program_name)s.log"), conf
        assert "STACK_CONFIG_DIGEST=" in parser.get(section, "environment"), conf


def test_a_changed_engine_config_changes_its_program_section(tmp_path: Path, rendered: Path) -> None:
    before = (rendered / "programs" / "kafka.conf").read_text()
    cassandra_before = (rendered / "programs" / "cassandra.conf").read_text()

    render.render_all(RuntimeSettings(var_dir=rendered.parent, kafka_port=19093))

    assert (rendered / "programs" / "kafka.conf").read_text() != before
    assert (rendered / "programs" / "cassandra.conf").read_text() == cassandra_before


def test_the_slack_webhook_goes_to_a_private_file_not_the_config(
    rendered: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = RuntimeSettings(
        var_dir=rendered.parent, slack_webhook_url="https://hooks.example/T000/B000/XXXX"
    )

    config = render.alertmanager_config(settings)

    assert "XXXX" not in config
    secret = rendered / "alertmanager" / "slack_webhook_url"
    assert secret.read_text().endswith("XXXX")
    assert secret.stat().st_mode & 0o077 == 0
