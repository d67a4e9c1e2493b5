"""The Spark job as a real spark-submit process (the operations tools' command line, `stack.submit`) on
topics and a keyspace of its own, next to the stack's; trade records as the producer writes them; a steady
load of them with probe trades timed into Cassandra. Used by the stream integration tests, the soak and the
stream benchmarks.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from jobs.spark_stream.settings import CHECKPOINT_VARIABLE
from services import contracts
from services.cassandra_session import CassandraConnection, as_settings
from services.kafka_options import KafkaConnection
from services.layout import ROOT
from stack import submit
from testkit.settings import settings_folder

METRICS_PORT_VARIABLE = "SPARK_METRICS_PORT"
"""The job's environment variable for its Prometheus port (the stack sets it from `.env` through Airflow)."""


def matching_samples(text: str, wanted: Mapping[str, Mapping[str, str]]) -> Iterator[Sample]:
    """The samples of Prometheus exposition `text` named in `wanted` whose labels include the ones given
    for their name."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = wanted.get(sample.name)
            if labels is not None and labels.items() <= sample.labels.items():
                yield sample


@dataclass
class SparkJob:
    """spark-submit of jobs/spark_stream in its own process group (kill -9 takes the JVM and its workers)."""

    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    master: str = "local[*]"
    options: Sequence[str] = ()
    """spark-submit options before the job's file (e.g. a standalone cluster's cores and executor memory)."""

    def start(self) -> SparkJob:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                submit.command(["--conf", "spark.ui.enabled=false", *self.options], master=self.master),
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
        for sample in matching_samples(self.metrics_text(), {name: labels}):
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
        record = (value, key) if isinstance(value, bytes) else (orjson.dumps(value), value["symbol"].encode())
        while True:
            try:
                producer.produce(topic, *record)
                break
            except BufferError:  # the local queue is full: wait for deliveries to free it
                producer.poll(0.1)
        producer.poll(0)
    assert producer.flush(60) == 0


PROBE_SYMBOL = "PROBE"
"""The symbol of the probe trades, whose arrival in Cassandra is timed (no other trade has it)."""
PROBES_PER_SECOND = 10
POLL_INTERVAL_S = 0.05


@dataclass(frozen=True)
class ProbeTimes:
    """One probe trade: when it was sent, when its row was readable, when a bar reflected it (Unix s)."""

    sent: float
    row: float | None
    bar: float | None


class Probes:
    """Times probe trades from sending to readable in Cassandra, by polling every 50 ms: the row in
    `trades_v2`, and the minute's bar in `trade_aggregates` with `last_trade_ts` at or after the probe's
    trade time (probes are one symbol, one Kafka partition, in time order: that bar includes the probe)."""

    def __init__(self, session: Any, keyspace: str) -> None:
        self.session, self.keyspace = session, keyspace
        self._sent: dict[str, tuple[float, int]] = {}
        self._row: dict[str, float] = {}
        self._bar: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="probes", daemon=True)

    def __enter__(self) -> Probes:
        self._rows_query = self.session.prepare(
            f"SELECT trade_id FROM {self.keyspace}.{contracts.TRADES_TABLE} WHERE symbol = ? "
            "AND trade_year = ? AND trade_month = ? AND trade_day = ? AND timestamp >= ?"
        )
        self._bars_query = self.session.prepare(
            f"SELECT window_start, last_trade_ts FROM {self.keyspace}.{contracts.AGGREGATES_TABLE} "
            "WHERE symbol = ? AND trade_year = ? AND trade_month = ? AND window_start >= ?"
        )
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def sent(self, trade_id: str, trade_ts_ms: int) -> None:
        with self._lock:
            self._sent[trade_id] = (time.time(), trade_ts_ms)

    def times(self, prefix: str = "") -> list[ProbeTimes]:
        """Every probe whose trade id starts with `prefix`, in the order sent."""
        with self._lock:
            return [
                ProbeTimes(sent, self._row.get(trade_id), self._bar.get(trade_id))
                for trade_id, (sent, _) in self._sent.items()
                if trade_id.startswith(prefix)
            ]

    def wait(self, timeout_s: float, prefix: str = "") -> None:
        """Until every probe sent so far (whose trade id starts with `prefix`) has its row and its bar, or
        `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and any(t.row is None or t.bar is None for t in self.times(prefix)):
            time.sleep(0.2)

    def _poll(self) -> None:
        while not self._stop.wait(POLL_INTERVAL_S):
            with self._lock:
                rows_due = {i: ts for i, (_, ts) in self._sent.items() if i not in self._row}
                bars_due = {i: ts for i, (_, ts) in self._sent.items() if i not in self._bar}
            try:
                self._poll_rows(rows_due)
                self._poll_bars(bars_due)
            except Exception:  # a slow or failed read: poll again
                time.sleep(POLL_INTERVAL_S)

    def _poll_rows(self, due: dict[str, int]) -> None:
        for (year, month, day), oldest in _oldest_by_day(due.values()).items():
            params = (PROBE_SYMBOL, year, month, day, oldest)
            found = {row.trade_id for row in self.session.execute(self._rows_query, params, timeout=5)}
            now = time.time()
            with self._lock:
                for trade_id in found & due.keys():
                    self._row.setdefault(trade_id, now)

    def _poll_bars(self, due: dict[str, int]) -> None:
        months: dict[tuple[int, int], int] = {}
        for (year, month, _), oldest in _oldest_by_day(due.values()).items():
            months[(year, month)] = min(oldest, months.get((year, month), oldest))
        for (year, month), oldest in months.items():
            start = oldest - oldest % 60_000
            params = (PROBE_SYMBOL, year, month, start)
            last_by_window = {
                _epoch_ms(row.window_start): _epoch_ms(row.last_trade_ts)
                for row in self.session.execute(self._bars_query, params, timeout=5)
            }
            now = time.time()
            with self._lock:
                for trade_id, ts in due.items():
                    last = last_by_window.get(ts - ts % 60_000)
                    if last is not None and last >= ts:
                        self._bar.setdefault(trade_id, now)


def _oldest_by_day(trade_ts_ms: Iterable[int]) -> dict[tuple[int, int, int], int]:
    oldest: dict[tuple[int, int, int], int] = {}
    for ts in trade_ts_ms:
        day = datetime.fromtimestamp(ts / 1000, UTC)
        key = (day.year, day.month, day.day)
        oldest[key] = min(ts, oldest.get(key, ts))
    return oldest


def _epoch_ms(value: datetime) -> int:
    return round(value.replace(tzinfo=UTC).timestamp() * 1000)


LOAD_SYMBOLS = (
    "AAPL",
    "MSFT",
    "GOOGL",
    "AMZN",
    "TSLA",
    "NVDA",
    "META",
    "BINANCE:BTCUSDT",
    "BINANCE:ETHUSDT",
    "OANDA:EUR_USD",
)


@dataclass(frozen=True)
class LoadRun:
    """One `SteadyLoad.run`: trade i is `{id_prefix}-{i}`, a probe when i % probe_every == 0."""

    id_prefix: str
    trades: int
    probe_every: int

    def symbol(self, i: int) -> str:
        return PROBE_SYMBOL if i % self.probe_every == 0 else LOAD_SYMBOLS[i % len(LOAD_SYMBOLS)]

    def trade_keys(self) -> Iterator[tuple[str, str]]:
        """(symbol, trade id) of every trade sent."""
        return ((self.symbol(i), f"{self.id_prefix}-{i}") for i in range(self.trades))


class SteadyLoad:
    """Trades produced at a steady rate, as the producer writes them (keyed by symbol, trade time = now),
    PROBES_PER_SECOND of them probes; remembers its runs (`LoadRun`), so what was sent can be listed."""

    def __init__(self, connection: KafkaConnection, topic: str, probes: Probes | None) -> None:
        self.topic, self.probes = topic, probes
        self.producer = trade_producer(connection, {"linger.ms": 5})
        self.runs: list[LoadRun] = []

    @property
    def sent(self) -> int:
        return sum(run.trades for run in self.runs)

    def run(self, rate: int, seconds: float, id_prefix: str) -> LoadRun:
        """Produce `rate` trades/s for `seconds` (falling behind only if the producer cannot keep up); trade
        ids are `id_prefix` and a sequence number."""
        run = LoadRun(id_prefix, round(rate * seconds), max(1, rate // PROBES_PER_SECOND))
        started = time.time()
        for i in range(run.trades):
            due = started + i / rate
            if (pause := due - time.time()) > 0.002:
                time.sleep(pause)
            symbol, trade_id = run.symbol(i), f"{id_prefix}-{i}"
            now_ms = int(time.time() * 1000)
            value = trade_value(trade_id, symbol, 100.0 + (i % 50) + (i % 7) / 8, float(i % 3), now_ms)
            self._produce(value)
            if symbol == PROBE_SYMBOL and self.probes is not None:
                self.probes.sent(trade_id, now_ms)
        self.runs.append(run)
        return run

    def _produce(self, value: dict[str, Any]) -> None:
        while True:
            try:
                self.producer.produce(self.topic, orjson.dumps(value), value["symbol"].encode())
                break
            except BufferError:  # the local queue is full: let librdkafka deliver, then retry
                self.producer.poll(0.05)
        self.producer.poll(0)

    def flush(self) -> None:
        assert self.producer.flush(60) == 0, f"records of {self.topic} not delivered within 60 s"
