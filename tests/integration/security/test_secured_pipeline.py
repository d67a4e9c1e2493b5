"""With ENABLE_SSL=true the whole pipeline still works: trades land and bars are right, bad input is
dead-lettered, Airflow's bootstrap and maintenance DAGs succeed, and the operations tools connect."""

from __future__ import annotations

import time
import urllib.parse
import urllib.request
from typing import Any

import pytest

from jobs.spark_stream.bars import BAR_WINDOW_MS, BarTrade, compute_bar
from services import contracts
from services.cassandra_session import cassandra_session
from stack import credentials, security
from stack.airflow_api import AirflowApi
from testkit.kafka import consume
from testkit.runtime import run_stack
from testkit.stream import produce
from testkit.waiting import eventually

from .conftest import SecuredRuntime, count_data


def _rows_ingested_after(secured: SecuredRuntime, since_ms: int) -> list[Any]:
    session = cassandra_session(secured.settings.cassandra_connection(), contracts.KEYSPACE)
    try:
        day = time.gmtime(since_ms / 1000)
        rows = session.execute(
            f"SELECT symbol, timestamp, trade_id, price, volume, ingested_at FROM {contracts.TRADES_TABLE} "
            "WHERE symbol = 'AAPL' AND trade_year = %s AND trade_month = %s AND trade_day = %s",
            (day.tm_year, day.tm_mon, day.tm_mday),
            timeout=60,
        )
        return [row for row in rows if row.ingested_at.timestamp() * 1000 >= since_ms]
    finally:
        session.cluster.shutdown()


def test_simulated_trades_land_in_trades_v2_and_their_bars_equal_a_recomputation(
    secured: SecuredRuntime,
) -> None:
    since_ms = int(time.time() * 1000)
    # The producer (its own principal) writes, the Spark job (its own) reads and writes Cassandra over TLS.
    eventually(
        lambda: len(_rows_ingested_after(secured, since_ms)) >= 50, 300, 5, "new AAPL rows after the switch"
    )

    session = cassandra_session(secured.settings.cassandra_connection(), contracts.KEYSPACE)
    try:
        # A finished minute: the bar the job wrote equals the bar recomputed from the stored trades.
        minute = (int(time.time() * 1000) // BAR_WINDOW_MS - 2) * BAR_WINDOW_MS
        day = time.gmtime(minute / 1000)

        def settled() -> bool:
            trades = _window_trades(session, minute, day)
            bar = session.execute(
                f"SELECT trade_count, open, close, high, low, volume FROM {contracts.AGGREGATES_TABLE} "
                "WHERE symbol = 'AAPL' AND trade_year = %s AND trade_month = %s AND window_start = %s",
                (day.tm_year, day.tm_mon, minute),
            ).one()
            if not trades or bar is None:
                return False
            expected = compute_bar(trades)
            assert (bar.trade_count, bar.open, bar.close, bar.high, bar.low) == (
                expected.trade_count,
                expected.open,
                expected.close,
                expected.high,
                expected.low,
            )
            return True

        eventually(settled, 180, 5, "a finished AAPL minute with trades and its bar")
    finally:
        session.cluster.shutdown()


def _window_trades(session: Any, minute: int, day: time.struct_time) -> list[BarTrade]:
    rows = session.execute(
        "SELECT toUnixTimestamp(timestamp) AS ts, trade_id, price, volume FROM trades_v2 "
        "WHERE symbol = 'AAPL' AND trade_year = %s AND trade_month = %s AND trade_day = %s "
        "AND timestamp >= %s AND timestamp < %s",
        (day.tm_year, day.tm_mon, day.tm_mday, minute, minute + BAR_WINDOW_MS),
    )
    return [BarTrade(row.ts, row.trade_id, row.price, row.volume) for row in rows]


def test_bad_input_is_dead_lettered_by_the_producer_and_by_the_spark_job(secured: SecuredRuntime) -> None:
    settings = secured.settings
    # The producer: a frame that is not JSON, sent by the simulator, reaches the dead-letter topic.
    marker = f"not json {time.time_ns()}"
    query = urllib.parse.urlencode({"frame": marker})
    urllib.request.urlopen(
        f"http://127.0.0.1:{settings.simulator_port}/control/send?{query}", timeout=30
    ).read()
    eventually(
        lambda: any(
            record["value"]["raw"] == marker
            for record in consume(
                settings.kafka_connection(), contracts.DEAD_LETTER_TOPIC, 1_000_000, idle_s=5
            )
        ),
        180,
        5,
        "the producer's dead letter in the dead-letter topic",
    )

    # The Spark job: a record it cannot parse, written to `trades` as the producer principal (the only
    # one allowed to), lands in the dead_letters table.
    producer = security.kafka_connection(settings, credentials.KAFKA_PRODUCER, secured.passwords)
    produce(producer, contracts.TRADES_TOPIC, [b"\xff not a trade " + marker.encode()])
    session = cassandra_session(settings.cassandra_connection(), contracts.KEYSPACE)
    try:
        today = time.strftime("%Y-%m-%d", time.gmtime())

        def dead_lettered() -> bool:
            rows = session.execute(
                f"SELECT raw, reason FROM {contracts.DEAD_LETTER_TABLE} "
                "WHERE source = 'spark_stream' AND day = %s",
                (today,),
            )
            return any(marker in row.raw and row.reason == "malformed_record" for row in rows)

        eventually(dead_lettered, 240, 5, "the Spark job's dead letter in the dead_letters table")
    finally:
        session.cluster.shutdown()


def test_airflow_bootstrap_and_maintenance_dags_succeed(secured: SecuredRuntime) -> None:
    api = AirflowApi(secured.settings)
    for dag_id in ("pipeline_bootstrap", "ttl_audit", "cassandra_compaction", "cassandra_backup"):
        assert api.run_to_completion(dag_id, timeout_s=900) == "success", dag_id


def test_operations_tools_connect_as_the_admin_principals(secured: SecuredRuntime) -> None:
    topics = run_stack("kafka-topics", "--list", timeout_s=300)
    assert topics.returncode == 0, topics.stderr
    assert contracts.TRADES_TOPIC in topics.stdout.split()

    cql = run_stack(
        "cql", "-e", f"SELECT trade_id FROM {contracts.KEYSPACE}.{contracts.TRADES_TABLE} LIMIT 1"
    )
    assert cql.returncode == 0, cql.stderr
    assert "trade_id" in cql.stdout and "(1 rows)" in cql.stdout

    nodetool = run_stack("nodetool", "status", timeout_s=300)
    assert nodetool.returncode == 0 and "UN" in nodetool.stdout, nodetool.stderr


def test_switching_from_plaintext_kept_every_row_and_record(secured: SecuredRuntime) -> None:
    if secured.before_switch is None:
        pytest.skip("the stack was secured before this session: there was no switch to check")
    now = count_data(secured.settings)
    assert now.trades_rows >= secured.before_switch.trades_rows
    assert now.trades_records >= secured.before_switch.trades_records
