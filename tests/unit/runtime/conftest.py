"""The runtime's unit tests: settings from the test's environment only (never a developer's .env), and a
fake installation under tmp_path (empty jars, dummy binaries) so rendering needs nothing installed."""

from __future__ import annotations

from pathlib import Path

import pytest

from finnhub_pipeline.stream_submit import KAFKA_SOURCE_JAR_PREFIXES
from services import layout
from stack.settings import RuntimeSettings


@pytest.fixture(autouse=True)
def no_dotenv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(RuntimeSettings.model_config, "env_file", None)


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A var/ folder with what `make install` puts there (as empty files); returns it."""
    lib = tmp_path / "lib"
    (lib / "jmx-exporter").mkdir(parents=True)
    (lib / "jmx-exporter" / "jmx_prometheus_javaagent-1.0.1.jar").touch()
    (lib / "cassandra").mkdir()
    (lib / "cassandra" / "jamm-0.4.0.jar").touch()
    jars = layout.spark_kafka_jars_dir(tmp_path)
    jars.mkdir(parents=True)
    for prefix in KAFKA_SOURCE_JAR_PREFIXES:
        (jars / f"{prefix}-1.0.jar").touch()
    (tmp_path / "bin").mkdir()
    for binary in ("statsd_exporter", "prometheus", "prometheus-alertmanager"):
        (tmp_path / "bin" / binary).touch(mode=0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    return tmp_path
