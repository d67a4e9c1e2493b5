"""The Spark job on real Kafka and Cassandra: a known set of trades gives exactly the rows and bars computed
independently in the test; bad records are dead-lettered while the job keeps running; after `kill -9` in
the middle of the stream and a restart, both tables equal an uninterrupted run's."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from services import contracts
from stack.settings import RuntimeSettings
from testkit.cassandra import create_keyspace
from testkit.kafka import create_topics
from testkit.runtime import free_port
from testkit.stream import SparkJob, job_env, produce, trade_value
from testkit.waiting import eventually
from tests.integration.stream.expectation import (
    differences,
    expected_bars,
    expected_trades,
    stored_bars,
    stored_trades,
)

MINUTE_MS, DAY_MS = 60_000, 86_400_000


def known_trades(seed: int, now_ms: int) -> list[dict[str, Any]]:
    """Trades with what makes bars hard: several symbols and UTC days, clusters in one millisecond,
    fractional and zero volumes, a minute of price updates only (no VWAP)."""
    rng = random.Random(seed)
    values = []
    for symbol, price in (("AAPL", 190.0), ("BINANCE:BTCUSDT", 97_000.0), ("OANDA:EUR_USD", 1.05)):
        for day in (2, 1, 0):
            base = (now_ms - day * DAY_MS - 20 * MINUTE_MS) // MINUTE_MS * MINUTE_MS
            for i in range(60):
                ts = base + rng.randrange(0, 5 * MINUTE_MS)
                for k in range(rng.choice((1, 1, 1, 3))):  # same-millisecond clusters
                    price = round(price * (1 + rng.gauss(0, 0.001)), 6)
                    volume = rng.choice((0.0, round(rng.uniform(0.0001, 2), 6), float(rng.randrange(1, 500))))
                    values.append(trade_value(f"{symbol}-{day}-{i}-{k}", symbol, price, volume, ts, ["1"]))
        zero_minute = (now_ms - 3 * DAY_MS) // MINUTE_MS * MINUTE_MS
        for i in range(4):  # price updates only: the bar has volume 0 and no VWAP
            values.append(trade_value(f"{symbol}-z{i}", symbol, price, 0.0, zero_minute + i * 1000))
    return values


@pytest.fixture(scope="module")
def stream(
    runtime: RuntimeSettings, cassandra_session: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, SparkJob]]:
    name = f"t_stream_{int(time.time() * 1000)}"
    create_topics(runtime.kafka_connection(), name)
    create_keyspace(cassandra_session, name)
    workdir = tmp_path_factory.mktemp("stream")
    env = job_env(
        runtime.kafka_connection(),
        name,
        name,
        workdir / "checkpoint",
        free_port(),
        runtime.cassandra_connection(),
    )
    job = SparkJob(env, workdir / "spark.log").start()
    yield name, name, job
    job.stop()
    cassandra_session.execute(f"DROP KEYSPACE IF EXISTS {name}", timeout=120)


def wait_until_stored(
    session: Any, keyspace: str, values: list[dict[str, Any]], job: SparkJob, timeout_s: float
) -> None:
    want_trades, want_bars = expected_trades(values), expected_bars(values)

    def agree() -> bool:
        assert job.alive(), f"the job exited; see {job.log}"
        problems = differences(want_trades, stored_trades(session, keyspace)) or differences(
            want_bars, stored_bars(session, keyspace)
        )
        if problems:
            raise AssertionError("; ".join(problems))
        return True

    eventually(agree, timeout_s, 5, what=f"Cassandra equals the expectation (job log {job.log})")


def metric(job: SparkJob, name: str, **labels: str) -> float:
    """The sum of the job's samples of `name` with `labels`."""
    return sum(job.metric_samples(name, **labels).values())


def test_known_trades_give_exactly_the_independently_computed_rows_and_bars(
    runtime: RuntimeSettings, cassandra_session: Any, stream: tuple[str, str, SparkJob]
) -> None:
    topic, keyspace, job = stream
    now_ms = int(time.time() * 1000)
    values = known_trades(1, now_ms)
    first = values[: len(values) * 3 // 4]
    random.Random(2).shuffle(first)  # out of order within every symbol
    produce(runtime.kafka_connection(), topic, [*first, *first[:50]])  # Kafka-level repeats too
    wait_until_stored(cassandra_session, keyspace, first, job, 420)

    # The rest arrive late: minutes that already have bars get trades older than the watermark.
    produce(runtime.kafka_connection(), topic, values[len(first) :])
    wait_until_stored(cassandra_session, keyspace, values, job, 240)
    # A batch's metrics are counted once its last table is written: shortly after the rows are readable.
    eventually(lambda: metric(job, contracts.SPARK_LATE_TRADES) > 0, 60, what="late trades counted")
    eventually(
        lambda: metric(job, contracts.SPARK_ROWS_WRITTEN, table="trades_v2") >= len(values),
        60,
        what="trade rows counted",
    )


def test_future_schema_and_garbage_are_dead_lettered_and_the_job_keeps_running(
    runtime: RuntimeSettings, cassandra_session: Any, stream: tuple[str, str, SparkJob]
) -> None:
    topic, keyspace, job = stream
    future = {**trade_value("future-1", "AAPL", 1.0, 1.0, int(time.time() * 1000)), "schema_version": 99}
    good = trade_value("after-garbage", "AAPL", 2.0, 3.0, int(time.time() * 1000))
    produce(runtime.kafka_connection(), topic, [b"\xff\xfe not json \x00", orjson.dumps(future), good])

    def dead_letters() -> dict[str, str]:
        rows = cassandra_session.execute(f"SELECT reason, raw FROM {keyspace}.dead_letters", timeout=30)
        return {row.reason: row.raw for row in rows}

    found = eventually(
        lambda: (d := dead_letters()).keys() >= {"malformed_record", "unsupported_schema_version"} and d,
        240,
        5,
        what="both bad records in the dead_letters table",
    )
    assert isinstance(found, dict) and '"schema_version":99' in found["unsupported_schema_version"]
    eventually(
        lambda: ("AAPL", "after-garbage") in stored_trades(cassandra_session, keyspace),
        120,
        5,
        what="the trade after the bad records written",
    )
    assert job.alive()
    # The batch's metrics are counted once its last table is written: shortly after the trades.
    eventually(lambda: metric(job, contracts.SPARK_DEAD_LETTERS) >= 2, 60, what="dead letters counted")


@pytest.mark.faults
def test_kill_9_mid_stream_and_restart_leave_the_tables_of_an_uninterrupted_run(
    runtime: RuntimeSettings, cassandra_session: Any, tmp_path: Path
) -> None:
    name = f"t_kill_{int(time.time() * 1000)}"
    create_topics(runtime.kafka_connection(), name)
    create_keyspace(cassandra_session, name)
    env = job_env(
        runtime.kafka_connection(),
        name,
        name,
        tmp_path / "checkpoint",
        free_port(),
        runtime.cassandra_connection(),
    )
    env["SPARK_STREAM_MAX_OFFSETS_PER_TRIGGER"] = "1000"  # many small batches: the kill lands mid-stream
    rng, now_ms = random.Random(3), int(time.time() * 1000)
    values = [
        trade_value(
            f"k-{i}",
            rng.choice(("AAPL", "MSFT", "TSLA", "BINANCE:ETHUSDT")),
            round(rng.uniform(10, 500), 4),
            rng.choice((0.0, 0.5, 100.0)),
            now_ms - rng.randrange(0, 40 * MINUTE_MS),
        )
        for i in range(12_000)
    ]
    produce(runtime.kafka_connection(), name, values)
    job = SparkJob(env, tmp_path / "spark.log").start()
    count: Callable[[], int] = lambda: cassandra_session.execute(  # noqa: E731
        f"SELECT count(*) FROM {name}.trades_v2", timeout=60
    ).one()[0]
    try:
        eventually(lambda: 2_000 <= count() < len(values), 300, 1, what="the job part-way through")
        job.kill9()
        assert count() < len(values)
        job = SparkJob(env, tmp_path / "spark.log").start()
        wait_until_stored(cassandra_session, name, values, job, 420)
    finally:
        job.stop()
        cassandra_session.execute(f"DROP KEYSPACE IF EXISTS {name}", timeout=120)
