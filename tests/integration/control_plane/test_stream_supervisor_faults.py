"""stream_supervisor against a `kill -9` of the Spark job: Airflow starts a new one within 2 minutes, trades
keep reaching Cassandra, and the failed try counts in Prometheus (airflow_task_failures_total).

Kills the shared stack's Spark job (the checkpoint and idempotent writes make the restart lossless).
"""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services import contracts
from stack.settings import RuntimeSettings
from testkit.waiting import eventually
from tests.integration.runtime.test_monitoring import prometheus_query

APPLICATION = "jobs/spark_stream/main.py"


def stream_processes() -> dict[str, set[int]]:
    """The spark-submit JVM and the Python driver of the stream job, by pid."""
    found: dict[str, set[int]] = {"jvm": set(), "driver": set()}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        command = [part.decode(errors="replace") for part in argv if part]
        if not command or not any(part.endswith(APPLICATION) for part in command):
            continue
        program = Path(command[0]).name
        if program == "java":
            found["jvm"].add(int(proc.name))
        elif program.startswith("python"):
            found["driver"].add(int(proc.name))
    return found


def rows_received_since(cassandra_session: Any, symbols: list[str], since: datetime) -> int:
    count = 0
    for day in {since.date(), datetime.now(UTC).date()}:
        for symbol in symbols:
            rows = cassandra_session.execute(
                f"SELECT received_at FROM {contracts.KEYSPACE}.{contracts.TRADES_TABLE} "
                "WHERE symbol = %s AND trade_year = %s AND trade_month = %s AND trade_day = %s "
                "AND timestamp > %s",
                (symbol, day.year, day.month, day.day, since - timedelta(minutes=10)),
            )
            naive_since = since.replace(tzinfo=None)
            count += sum(1 for row in rows if row.received_at and row.received_at > naive_since)
    return count


def failures_counted(runtime: RuntimeSettings) -> float:
    result = prometheus_query(runtime, 'sum(airflow_task_failures_total{job="statsd-exporter"})')
    return float(result[0]["value"][1]) if result else 0.0


@pytest.mark.faults
def test_a_kill_9_spark_job_runs_again_within_two_minutes_and_trades_keep_arriving(
    runtime: RuntimeSettings, cassandra_session: Any
) -> None:
    symbols = runtime.symbols.split(",")
    old = eventually(
        lambda: (found := stream_processes())["jvm"] and found["driver"] and found,
        600,
        interval_s=5,
        what="a running Spark stream job (spark-submit JVM and Python driver)",
    )
    assert isinstance(old, dict)
    eventually(
        lambda: rows_received_since(cassandra_session, symbols, datetime.now(UTC) - timedelta(seconds=60)),
        300,
        interval_s=5,
        what="trades written in the last minute before the kill",
    )
    failures_before = failures_counted(runtime)

    killed_at = datetime.now(UTC)
    started = time.monotonic()
    for pid in old["jvm"] | old["driver"]:
        os.kill(pid, signal.SIGKILL)

    new_jvm = eventually(
        lambda: stream_processes()["jvm"] - old["jvm"], 120, interval_s=2, what="a new spark-submit JVM"
    )
    restart_s = time.monotonic() - started
    rows = eventually(
        lambda: rows_received_since(cassandra_session, symbols, killed_at),
        240,
        interval_s=5,
        what=f"trades received after the kill in {contracts.TRADES_TABLE}",
    )

    assert new_jvm and restart_s <= 120
    assert int(str(rows)) > 0
    eventually(
        lambda: failures_counted(runtime) > failures_before,
        180,
        interval_s=5,
        what="the killed try counted in airflow_task_failures_total",
    )
