"""Where a query with an empty checkpoint starts: `earliest`, `latest` or a Unix time in ms, and the Kafka
source options each one turns into."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jobs.spark_stream.settings import StreamSettings
from jobs.spark_stream.sources import starting_position_options
from services.configuration import ConfigError

from .conftest import run_job_main

VARIABLE = "SPARK_STREAM_STARTING_OFFSETS"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("SPARK_STREAM_", "CASSANDRA_", "KAFKA_")) or name in (
            "SPARK_MASTER",
            "SPARK_METRICS_PORT",
        ):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env here


def test_default_is_earliest_through_starting_offsets() -> None:
    settings = StreamSettings()
    assert settings.starting_offsets == "earliest"
    assert settings.starting_timestamp_ms is None
    assert starting_position_options(settings) == {"startingOffsets": "earliest"}


def test_latest_is_passed_as_starting_offsets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VARIABLE, "latest")
    assert starting_position_options(StreamSettings()) == {"startingOffsets": "latest"}


def test_unix_milliseconds_become_a_starting_timestamp_that_tolerates_idle_partitions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(VARIABLE, "1795514400000")  # 2026-11-24T10:00:00Z
    settings = StreamSettings()
    assert settings.starting_timestamp_ms == 1_795_514_400_000
    assert starting_position_options(settings) == {
        "startingTimestamp": "1795514400000",
        "startingOffsetsByTimestampStrategy": "latest",
    }


def test_surrounding_whitespace_of_an_airflow_variable_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VARIABLE, " latest\n")
    assert StreamSettings().starting_offsets == "latest"


@pytest.mark.parametrize(
    "value",
    ["yesterday", "LATEST", "2026-11-24T10:00:00Z", "-1795514400000", "1.5e12", " ", "١٢٣", "9" * 16],
)
def test_anything_else_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(VARIABLE, value)
    with pytest.raises(ConfigError, match=f"^{VARIABLE}: "):
        StreamSettings.load()


def test_an_empty_variable_means_the_default_earliest(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every program's rule (services.configuration): an empty variable is an unset one.
    monkeypatch.setenv(VARIABLE, "")
    assert starting_position_options(StreamSettings()) == {"startingOffsets": "earliest"}


def test_job_with_a_bad_starting_offset_exits_2_with_one_line(tmp_path: Path) -> None:
    result = run_job_main({VARIABLE: "2026-11-24T10:00:00Z"}, tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"spark_stream: invalid configuration: {VARIABLE}: ")
    assert "Unix time in milliseconds" in result.stderr
    assert "Traceback" not in result.stderr
