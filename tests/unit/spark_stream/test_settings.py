"""Configuration: defaults, parsing, and one readable line (exit 2) for a bad value."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jobs.spark_stream.settings import StreamSettings
from services import contracts, layout
from services.configuration import ConfigError

from .conftest import run_job_main


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("SPARK_STREAM_", "CASSANDRA_", "KAFKA_")) or name in (
            "SPARK_MASTER",
            "SPARK_METRICS_PORT",
        ):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env here


def test_defaults_read_the_contract_topic_and_keyspace_with_the_runtimes_checkpoint() -> None:
    settings = StreamSettings()
    assert (settings.topic, settings.cassandra_keyspace, settings.metrics_port) == (
        contracts.TRADES_TOPIC,
        contracts.KEYSPACE,
        contracts.SPARK_METRICS_PORT,
    )
    # The folder the local runtime and stream_supervisor use, wherever the job is started from.
    assert settings.checkpoint_location == str(layout.checkpoint_dir())
    assert (settings.master, settings.watermark_ms, settings.trigger_interval) == (
        None,
        10_000,
        "0.25 seconds",
    )


def test_metrics_port_is_the_pipelines_spark_metrics_port_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARK_METRICS_PORT", "9101")
    assert StreamSettings().metrics_port == 9101


def test_cassandra_hosts_are_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASSANDRA_HOSTS", " 10.0.0.1, 10.0.0.2 ,")
    assert StreamSettings().cassandra_target().connection.hosts == ("10.0.0.1", "10.0.0.2")


def test_checkpoint_uri_is_kept_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARK_STREAM_CHECKPOINT_LOCATION", "s3a://bucket/checkpoints/spark_stream")
    assert StreamSettings().checkpoint_location == "s3a://bucket/checkpoints/spark_stream"


def test_password_is_not_shown_in_the_connection_target(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASSANDRA_USERNAME", "stream")
    monkeypatch.setenv("CASSANDRA_PASSWORD", "hunter2")
    target = StreamSettings().cassandra_target()
    assert target.connection.password == "hunter2"
    assert "hunter2" not in repr(target)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SPARK_STREAM_WATERMARK_SECONDS", "-1"),
        ("SPARK_STREAM_STARTING_OFFSETS", "yesterday"),
        ("CASSANDRA_PORT", "ninety"),
        ("CASSANDRA_HOSTS", " , "),
        ("SPARK_STREAM_TRIGGER_SECONDS", "-0.5"),
        ("SPARK_STREAM_BAR_BOOK_TRADES", "0"),
        ("SPARK_METRICS_PORT", "70000"),
    ],
)
def test_invalid_value_is_refused_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=f"^{name}: "):
        StreamSettings.load()


def test_job_with_bad_configuration_exits_2_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    result = run_job_main(
        {"SPARK_METRICS_PORT": "not-a-port", "CASSANDRA_PASSWORD": "s3cret-value"}, tmp_path
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("spark_stream: invalid configuration: SPARK_METRICS_PORT")
    assert "Traceback" not in result.stderr and "s3cret-value" not in result.stderr
