"""One small local Spark session for every Spark test, and a builder of Kafka-source-shaped inputs.

The session's Python workers import `jobs` and `services` like spark-submit's do: from the project installed
into the virtualenv (no PYTHONPATH).
"""

from __future__ import annotations

import functools
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession

from services import contracts
from testkit.spark import unit_test_session

REPO_ROOT = Path(__file__).resolve().parents[3]
KAFKA_SCHEMA = "key binary, value binary, topic string, partition int, offset long, timestamp timestamp"
KafkaRecords = Callable[..., DataFrame]


def run_job_main(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python jobs/spark_stream/main.py` with only PATH and `env`: what start-up prints."""
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "jobs" / "spark_stream" / "main.py")],
        env={"PATH": os.environ["PATH"], **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    # As in the job's main: Py4J logs each callback connection at INFO, the last one from a finalizer at
    # interpreter exit, after pytest has closed the stream it writes to ("--- Logging error ---").
    logging.getLogger("py4j").setLevel(logging.WARNING)
    session = unit_test_session()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def kafka_frame(
    spark: SparkSession,
    values: Sequence[bytes | None],
    *,
    partition: int = 0,
    first_offset: int = 100,
    kafka_ts_ms: int = 1_700_000_000_000,
    key: bytes | None = b"AAPL",
) -> DataFrame:
    """A DataFrame shaped like the Kafka source's output, one record per value (bytes or None)."""
    timestamp = datetime.fromtimestamp(kafka_ts_ms / 1000, tz=UTC)
    rows = [
        (key, value, contracts.TRADES_TOPIC, partition, first_offset + index, timestamp)
        for index, value in enumerate(values)
    ]
    return spark.createDataFrame(rows, KAFKA_SCHEMA)


@pytest.fixture
def kafka_records(spark: SparkSession) -> KafkaRecords:
    return functools.partial(kafka_frame, spark)
