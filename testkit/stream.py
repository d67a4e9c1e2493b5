"""The Spark job as a real spark-submit process (the operations tools' command line, `stack.submit`) on
topics and a keyspace of its own, next to the stack's; and trade records as the producer writes them. Used by
the stream integration tests and `make bench-stream`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families

from jobs.spark_stream.settings import CHECKPOINT_VARIABLE
from services import contracts
from services.cassandra_session import CassandraConnection, as_settings
from services.kafka_options import KafkaConnection
from services.layout import ROOT
from stack import submit
from testkit.settings import settings_folder

METRICS_PORT_VARIABLE = "SPARK_METRICS_PORT"
"""The job's environment variable for its Prometheus port (the stack sets it from `.env` through Airflow)."""


@dataclass
class SparkJob:
    """spark-submit of jobs/spark_stream in its own process group (kill -9 takes the JVM and its workers)."""

    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> SparkJob:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                submit.command(["--conf", "spark.ui.enabled=false"]),
                cwd=ROOT,
                env=submit.environment({**os.environ, **self.env}),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return self

    @property
    def metrics_port(self) -> int:
        return int(self.env[METRICS_PORT_VARIABLE])

    def metrics_text(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())

    def metric_samples(self, name: str, **labels: str) -> dict[str, float]:
        """The job's samples of `name` matching `labels`, summed by their `le` label ("" when none);
        raises OSError while the endpoint does not answer."""
        found: dict[str, float] = {}
        for family in text_string_to_metric_families(self.metrics_text()):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    le = sample.labels.get("le", "")
                    found[le] = found.get(le, 0.0) + sample.value
        return found

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill9(self) -> None:
        assert self.popen is not None
        os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(30)

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(30)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def job_env(
    connection: KafkaConnection,
    topic: str,
    keyspace: str,
    checkpoint: Path,
    metrics_port: int,
    cassandra: CassandraConnection | None = None,
) -> dict[str, str]:
    """The job's settings for a run on a topic and keyspace of its own; its Kafka and Cassandra connections
    (credentials included on a secured stack) as files of a folder beside the checkpoint."""
    connections = settings_folder(
        checkpoint.parent / f"{checkpoint.name}-settings",
        connection.as_settings(),
        as_settings(cassandra or CassandraConnection()),
    )
    return {
        **connections,
        "SPARK_STREAM_TOPIC": topic,
        "CASSANDRA_KEYSPACE": keyspace,
        "CASSANDRA_CONSISTENCY": "LOCAL_ONE",
        CHECKPOINT_VARIABLE: str(checkpoint),
        METRICS_PORT_VARIABLE: str(metrics_port),
        "SPARK_STREAM_TRIGGER_SECONDS": "1",
        "SPARK_STREAM_MAX_OFFSETS_PER_TRIGGER": "3000",
    }


def trade_value(
    trade_id: str, symbol: str, price: float, volume: float, ts_ms: int, conditions: list[str] | None = None
) -> dict[str, Any]:
    """A trade record as the producer writes it (contracts.TRADE_RECORD), built independently of it."""
    return {
        "schema_version": contracts.TRADE_SCHEMA_VERSION,
        "trade_id": trade_id,
        "symbol": symbol,
        "price": price,
        "volume": volume,
        "trade_ts_ms": ts_ms,
        "conditions": conditions or [],
        "received_at_ms": int(time.time() * 1000),
    }


def trade_producer(connection: KafkaConnection, tuning: Mapping[str, Any] | None = None) -> Producer:
    """A Kafka producer with the pipeline producer's delivery guarantees (acks=all, idempotence), plus
    `tuning` (librdkafka's names)."""
    return Producer(connection.client_options({"acks": "all", "enable.idempotence": True, **(tuning or {})}))


def produce(
    connection: KafkaConnection,
    topic: str,
    values: Sequence[dict[str, Any] | bytes],
    key: bytes | None = None,
) -> None:
    """Records as the producer writes them (keyed by symbol), or raw bytes as they are."""
    producer = trade_producer(connection)
    for value in values:
        if isinstance(value, bytes):
            producer.produce(topic, value, key)
        else:
            producer.produce(topic, orjson.dumps(value), value["symbol"].encode())
        producer.poll(0)
    assert producer.flush(60) == 0
