"""Rendering of the runtime's configs: every placeholder filled, program defaults added, secrets kept out."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest
import yaml

from services import layout
from stack import alerting, render
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
        logfile = parser.get(section, "stdout_logfile")  # supervisord expands %(program_name)s
        program = section.removeprefix("program:")
        expected = layout.program_log(program, rendered.parent)
        assert logfile.replace("%(program_name)s", program) == str(expected), conf
        assert "STACK_CONFIG_DIGEST=" in parser.get(section, "environment"), conf


def test_a_changed_engine_config_changes_its_program_section(tmp_path: Path, rendered: Path) -> None:
    before = (rendered / "programs" / "kafka.conf").read_text()
    cassandra_before = (rendered / "programs" / "cassandra.conf").read_text()

    render.render_all(RuntimeSettings(var_dir=rendered.parent, kafka_port=19093))

    assert (rendered / "programs" / "kafka.conf").read_text() != before
    assert (rendered / "programs" / "cassandra.conf").read_text() == cassandra_before


def test_the_slack_webhook_goes_to_a_private_file_not_the_config(installed: Path) -> None:
    webhook = "https://hooks.example/T000/B000/XXXX"

    render.render_all(RuntimeSettings(var_dir=installed, slack_webhook_url=webhook))

    alertmanager = installed / "run" / "alertmanager"
    assert "XXXX" not in (alertmanager / "alertmanager.yml").read_text()
    assert (alertmanager / "slack_webhook_url").read_text() == webhook
    assert (alertmanager / "slack_webhook_url").stat().st_mode & 0o077 == 0
    # The config names its Slack template by a relative path: it must be rendered beside it.
    assert (alertmanager / "slack.tmpl").read_text() == alerting.SLACK_TEMPLATE.read_text()


def test_prometheus_scrapes_one_producer_target_per_expected_replica(rendered: Path) -> None:
    config = yaml.safe_load((rendered / "prometheus" / "prometheus.yml").read_text())
    (producer,) = [job for job in config["scrape_configs"] if job["job_name"] == "producer"]
    settings = RuntimeSettings(var_dir=rendered.parent, kafka_port=19092)

    assert producer["static_configs"] == [{"targets": ["127.0.0.1:8000"], "labels": {"replica": "producer"}}]
    assert settings.producer_metrics_targets == ("127.0.0.1:8000",)


def test_each_producer_replica_is_scraped_under_its_program_name() -> None:
    """ProducerDown's `replica` label is the program `make status` lists and the log var/log/<it>.log."""
    settings = RuntimeSettings(topology="cluster", producer_replicas=3)  # type: ignore[arg-type]

    assert render.producer_static_configs(settings) == [
        {"targets": [f"127.0.0.1:{port}"], "labels": {"replica": f"producer-{i}"}}
        for i, port in enumerate((8000, 8100, 8200))
    ]


def test_prometheus_gets_the_runbook_base_as_an_external_label(installed: Path) -> None:
    settings = RuntimeSettings(var_dir=installed, runbook_base_url="https://docs.example/pipeline/docs")

    render.render_all(settings)

    config = yaml.safe_load((installed / "run" / "prometheus" / "prometheus.yml").read_text())
    assert config["global"]["external_labels"]["runbook_base_url"] == "https://docs.example/pipeline/docs"


def test_the_alert_log_is_a_supervised_program_writing_var_log_alerts_log(rendered: Path) -> None:
    parser = configparser.RawConfigParser()
    parser.read(rendered / "programs" / "alert-log.conf")
    command = parser.get("program:alert-log", "command")

    assert "-m stack.alert_log --port 9095" in command
    assert command.endswith(f"--log {rendered.parent / 'log' / 'alerts.log'}")
