"""The Spark job as a real spark-submit process on topics and a keyspace of its own, next to the stack's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Producer

from jobs.spark_stream import submit
from services import contracts
from tests.integration.conftest import ROOT

sys.path.insert(0, str(ROOT / "plugins"))
from finnhub_pipeline import migration_plan


def create_keyspace(session: Any, keyspace: str) -> None:
    """The pipeline's schema (sql/cql, in order) in a throw-away keyspace."""
    for migration in migration_plan.discover(ROOT / "sql" / "cql"):
        session.execute(migration_plan.render(migration, 1, keyspace), timeout=60)


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


def job_env(bootstrap: str, topic: str, keyspace: str, checkpoint: Path, metrics_port: int) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "SPARK_STREAM_TOPIC": topic,
        "CASSANDRA_KEYSPACE": keyspace,
        "CASSANDRA_CONSISTENCY": "LOCAL_ONE",
        "SPARK_STREAM_CHECKPOINT_LOCATION": str(checkpoint),
        "SPARK_STREAM_METRICS_PORT": str(metrics_port),
        "SPARK_STREAM_TRIGGER_SECONDS": "1",
        "SPARK_STREAM_MAX_OFFSETS_PER_TRIGGER": "3000",
    }


def trade_value(
    trade_id: str, symbol: str, price: float, volume: float, ts_ms: int, conditions: list[str] | None = None
) -> dict[str, Any]:
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


def produce(
    bootstrap: str, topic: str, values: Sequence[dict[str, Any] | bytes], key: bytes | None = None
) -> None:
    """Records as the producer writes them (keyed by symbol), or raw bytes as they are."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})
    for value in values:
        if isinstance(value, bytes):
            producer.produce(topic, value, key)
        else:
            producer.produce(topic, orjson.dumps(value), value["symbol"].encode())
        producer.poll(0)
    assert producer.flush(60) == 0
