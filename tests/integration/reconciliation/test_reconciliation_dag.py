"""The reconciliation DAG on the running stack, through Airflow's REST API: a recent window of the live stream
reconciles with no difference; a deleted trade row and a changed bar are found, exported to Prometheus and
alerted on, and a `reset-checkpoint` replay repairs both; an hour older than Kafka's retention and a malformed
range are reported as such.

The windows are recent minutes the job has fully written (ending two minutes ago, starting after the job's
current query began, so a `FROM=latest` reset of another test leaves no gap in them). Every wait is on a
condition: the DAG itself waits for the job's checkpoint before comparing.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from finnhub_pipeline import variables
from finnhub_pipeline.reconciliation_window import HOUR_MS, MINUTE_MS, iso, split_hours
from finnhub_pipeline.stream_checkpoint import last_committed_batch
from finnhub_pipeline.stream_process import job_processes
from services import contracts
from services.layout import ROOT
from stack.airflow_api import STREAM_DAG, STREAM_TASK, AirflowApi
from stack.settings import RuntimeSettings
from testkit.waiting import eventually
from tests.integration.runtime.test_monitoring import prometheus_query

DAG = "reconciliation"
TRADES = f"{contracts.KEYSPACE}.{contracts.TRADES_TABLE}"
BARS = f"{contracts.KEYSPACE}.{contracts.AGGREGATES_TABLE}"
IN_PARTITION = "symbol = %s AND trade_year = %s AND trade_month = %s AND trade_day = %s"
TASK = "reconcile"
SYMBOL = "BINANCE:BTCUSDT"  # a symbol with ':' proves the label reaches Prometheus whole
RUN_TIMEOUT_S = 900  # the DAG waits up to reconciliation_stream_wait_minutes (15) for the job itself
JOB_START_TIMEOUT_S = 300
METRIC_TIMEOUT_S = 180  # statsd_exporter, then a Prometheus scrape (15 s) and a rule evaluation (15 s)
WINDOW_MINUTES = 6


# --- helpers ------------------------------------------------------------------------------------------------
def run_reconciliation(api: AirflowApi, start_ms: int, end_ms: int) -> tuple[str, dict[str, Any]]:
    """Triggers the DAG for [start, end), waits for the run's end; (its state, the XCom report)."""
    run_id = api.trigger(DAG, {"start": iso(start_ms), "end": iso(end_ms)})
    state = eventually(
        lambda: s if (s := api.run_state(DAG, run_id)) in ("success", "failed") else None,
        RUN_TIMEOUT_S,
        interval_s=3,
        what=f"DAG run {DAG}/{run_id} ended",
    )
    return str(state), report_of(api, run_id)


def report_of(api: AirflowApi, run_id: str) -> dict[str, Any]:
    entry = api.get(f"/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances/{TASK}/xcomEntries/report")
    value = entry["value"]
    return dict(json.loads(value) if isinstance(value, str) else value)


def metric(runtime: RuntimeSettings, name: str, symbol: str) -> float | None:
    found = prometheus_query(runtime, f'{name}{{symbol="{symbol}"}}')
    return float(found[0]["value"][1]) if found else None


def firing(runtime: RuntimeSettings, alertname: str) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{runtime.prometheus_port}/api/v1/alerts"
    with urllib.request.urlopen(url, timeout=10) as response:
        alerts = json.load(response)["data"]["alerts"]
    return [a for a in alerts if a["labels"].get("alertname") == alertname and a["state"] == "firing"]


def earliest_kafka_timestamp_ms(runtime: RuntimeSettings) -> int:
    consumer = Consumer(runtime.kafka_connection().client_options({"group.id": "test-reconciliation-probe"}))
    try:
        partitions = consumer.list_topics(contracts.TRADES_TOPIC, timeout=15).topics[contracts.TRADES_TOPIC]
        earliest = []
        for partition in partitions.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(contracts.TRADES_TOPIC, partition), 15)
            if low < high:
                consumer.assign([TopicPartition(contracts.TRADES_TOPIC, partition, low)])
                message = consumer.poll(15)
                assert message is not None and message.error() is None
                earliest.append(message.timestamp()[1])
        return min(earliest)
    finally:
        consumer.close()


def recent_window(runtime: RuntimeSettings) -> tuple[int, int]:
    """[start, end) of WINDOW_MINUTES whole minutes ending at least two minutes ago, after the job's current
    query began and after Kafka's earliest record (waits until there is such a window)."""
    # Spark writes `metadata` once, when the query is created on an empty checkpoint.
    query_created = runtime.checkpoint_dir / "metadata"

    def window() -> tuple[int, int] | None:
        floor = max(query_created.stat().st_mtime * 1000, earliest_kafka_timestamp_ms(runtime)) + MINUTE_MS
        end = (time.time_ns() // 1_000_000 - 2 * MINUTE_MS) // MINUTE_MS * MINUTE_MS
        start = max(end - WINDOW_MINUTES * MINUTE_MS, -(-int(floor) // MINUTE_MS) * MINUTE_MS)
        return (start, end) if end - start >= 3 * MINUTE_MS else None

    found = eventually(window, 600, interval_s=10, what="three whole minutes of the current query, 2 min old")
    assert isinstance(found, tuple)
    return found


# --- fixtures -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def api(runtime: RuntimeSettings) -> AirflowApi:
    api = AirflowApi(runtime)
    api.wait_for_dag(DAG, timeout_s=300)
    api.set_paused(DAG, False)
    return api


@pytest.fixture
def live_job(runtime: RuntimeSettings, api: AirflowApi) -> Iterator[Path]:
    """The Airflow-run job, up and committing; afterwards unpaused, its task restarted if it is down, and the
    starting-offsets Variable as it was."""
    checkpoint = runtime.checkpoint_dir
    starting_offsets = (
        api.variable(variables.SPARK_STARTING_OFFSETS) or variables.SPARK_STARTING_OFFSETS.default
    )
    api.set_paused(STREAM_DAG, False)
    eventually(
        lambda: job_processes(checkpoint) and last_committed_batch(checkpoint) is not None,
        JOB_START_TIMEOUT_S,
        interval_s=3,
        what=f"the {STREAM_DAG} job runs and has committed a batch in {checkpoint}",
    )
    try:
        yield checkpoint
    finally:
        api.set_paused(STREAM_DAG, False)
        run_id = api.running_run_id(STREAM_DAG)
        waiting = run_id is not None and api.task_state(STREAM_DAG, run_id, STREAM_TASK) in (
            "up_for_retry",
            "failed",
        )
        if run_id is not None and waiting and not job_processes(checkpoint):
            api.clear_task(STREAM_DAG, run_id, STREAM_TASK)
        api.set_variable(variables.SPARK_STARTING_OFFSETS, starting_offsets)


# --- tests --------------------------------------------------------------------------------------------------
def test_a_recent_window_of_the_live_stream_reconciles_with_no_difference(
    runtime: RuntimeSettings, api: AirflowApi, live_job: Path
) -> None:
    start, end = recent_window(runtime)

    state, report = run_reconciliation(api, start, end)

    assert state == "success", report.get("summary")
    assert report["differences"] == 0
    assert report["windows_checked"] == len(split_hours(start, end))
    checked = {symbol: counts["checked_trades"] for symbol, counts in report["symbols"].items()}
    assert checked.get(SYMBOL, 0) > 0, checked
    assert all(window["status"] == "checked" for window in report["windows"])


@pytest.mark.faults
def test_a_deleted_trade_and_a_changed_bar_are_found_alerted_and_repaired_by_a_replay(
    runtime: RuntimeSettings, api: AirflowApi, live_job: Path, cassandra_session: Any
) -> None:
    started = time.monotonic()
    start, end = recent_window(runtime)
    state, report = run_reconciliation(api, start, end)
    assert state == "success" and report["differences"] == 0, report.get("summary")

    # One trade of a minute that has several, and that minute's bar.
    minute = start + MINUTE_MS
    day = datetime.fromtimestamp(minute / 1000, tz=UTC)
    partition = (SYMBOL, day.year, day.month, day.day)
    rows = list(
        cassandra_session.execute(
            f"SELECT * FROM {TRADES} WHERE {IN_PARTITION} AND timestamp >= %s AND timestamp < %s",
            (*partition, minute, minute + MINUTE_MS),
        )
    )
    assert len(rows) >= 2, f"{SYMBOL} has {len(rows)} trades in minute {iso(minute)}"
    deleted = rows[len(rows) // 2]
    bar_key = (SYMBOL, day.year, day.month, minute)
    bar = cassandra_session.execute(
        f"SELECT close FROM {BARS} WHERE symbol = %s "
        "AND trade_year = %s AND trade_month = %s AND window_start = %s",
        bar_key,
    ).one()
    repaired = False
    try:
        cassandra_session.execute(
            f"DELETE FROM {TRADES} WHERE {IN_PARTITION} AND timestamp = %s AND trade_id = %s",
            (*partition, deleted.timestamp, deleted.trade_id),
        )
        cassandra_session.execute(
            f"UPDATE {BARS} SET close = %s WHERE symbol = %s "
            "AND trade_year = %s AND trade_month = %s AND window_start = %s",
            (bar.close + 1.0, *bar_key),
        )

        state, report = run_reconciliation(api, start, end)

        assert state == "failed"
        (hour,) = [w for w in split_hours(start, end) if w.contains(minute)]
        summary = report["summary"]
        assert f"{SYMBOL} {hour.label}: 1 missing trade(s), 0 extra row(s), 1 wrong bar(s)" in summary
        assert f"missing trade {iso(minute)[:17]}" in summary
        assert report["symbols"][SYMBOL]["missing_trades"] == 1
        assert report["symbols"][SYMBOL]["wrong_bars"] == 1
        assert report["differences"] == 2, summary
        replay_from = re.search(r"make reset-checkpoint FROM=(\S+) replays Kafka", summary)
        assert replay_from is not None, summary
        assert replay_from.group(1) == iso(hour.kafka_start_ms())
        eventually(
            lambda: (
                metric(runtime, "airflow_reconciliation_missing_trades", SYMBOL) == 1
                and metric(runtime, "airflow_reconciliation_wrong_bars", SYMBOL) == 1
            ),
            METRIC_TIMEOUT_S,
            interval_s=5,
            what=f"missing trades and wrong bars of {SYMBOL} == 1 and 1 in Prometheus",
        )
        alerts = eventually(
            lambda: [
                a for a in firing(runtime, "ReconciliationDifferences") if a["labels"]["symbol"] == SYMBOL
            ],
            METRIC_TIMEOUT_S,
            interval_s=5,
            what=f"ReconciliationDifferences firing for {SYMBOL} (Prometheus /api/v1/alerts)",
        )
        assert alerts[0]["labels"]["component"] == "reconciliation"  # type: ignore[index]

        # The repair the summary names: replay Kafka from that time.
        reset = subprocess.run(
            [sys.executable, "-m", "stack.reset_checkpoint", "--from", replay_from.group(1)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert reset.returncode == 0, reset.stdout + reset.stderr
        assert api.variable(variables.SPARK_STARTING_OFFSETS) == str(
            round(datetime.fromisoformat(replay_from.group(1)).timestamp() * 1000)
        )

        # The DAG waits until the replayed job has committed past the window, then compares.
        state, report = run_reconciliation(api, start, end)

        assert state == "success", report.get("summary")
        assert report["differences"] == 0
        repaired = True
        restored = cassandra_session.execute(
            f"SELECT trade_id FROM {TRADES} WHERE {IN_PARTITION} AND timestamp = %s AND trade_id = %s",
            (*partition, deleted.timestamp, deleted.trade_id),
        ).one()
        assert restored is not None
        eventually(
            lambda: (
                metric(runtime, "airflow_reconciliation_missing_trades", SYMBOL) == 0
                and metric(runtime, "airflow_reconciliation_wrong_bars", SYMBOL) == 0
            ),
            METRIC_TIMEOUT_S,
            interval_s=5,
            what=f"the {SYMBOL} gauges back to 0",
        )
        eventually(
            lambda: (
                not [
                    a for a in firing(runtime, "ReconciliationDifferences") if a["labels"]["symbol"] == SYMBOL
                ]
            ),
            METRIC_TIMEOUT_S,
            interval_s=5,
            what="ReconciliationDifferences resolved",
        )
        print(f"\nsabotage, detection, alert and replay repair took {time.monotonic() - started:.0f} s")
    finally:
        if not repaired:  # leave the live tables as the stream wrote them, whatever failed above
            columns = [name for name in deleted._fields]
            cassandra_session.execute(
                f"INSERT INTO {TRADES} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})",
                tuple(getattr(deleted, name) for name in columns),
            )
            cassandra_session.execute(
                f"UPDATE {BARS} SET close = %s WHERE symbol = %s "
                "AND trade_year = %s AND trade_month = %s AND window_start = %s",
                (bar.close, *bar_key),
            )


def test_an_hour_older_than_kafkas_earliest_record_is_beyond_retention_not_a_loss(
    runtime: RuntimeSettings, api: AirflowApi
) -> None:
    earliest = earliest_kafka_timestamp_ms(runtime)
    hour_start = earliest // HOUR_MS * HOUR_MS - HOUR_MS  # Kafka keeps nothing of it
    assert hour_start > time.time() * 1000 - 29 * 24 * HOUR_MS, "within trades_v2's 30 days, so Kafka decides"

    state, report = run_reconciliation(api, hour_start, hour_start + HOUR_MS)

    assert state == "success"  # nothing lost: the task is skipped
    run_id = api.get(f"/api/v2/dags/{DAG}/dagRuns?order_by=-run_after&limit=1")["dag_runs"][0]["dag_run_id"]
    assert api.task_state(DAG, run_id, TASK) == "skipped"
    (window,) = report["windows"]
    assert window["status"] == "beyond_kafka_retention"
    assert "nothing is reported as lost" in window["detail"]
    assert report["differences"] == 0 and report["windows_checked"] == 0
    assert f"{iso(hour_start)[:13]}:00Z not checked: beyond_kafka_retention" in report["summary"]


@pytest.mark.parametrize(
    ("conf", "reason"),
    [
        ({"start": "yesterday", "end": "2026-05-01T10:00:00Z"}, "start must be an ISO-8601 UTC time"),
        ({"start": "2026-05-01T10:00:00Z", "end": "2026-05-01T09:00:00Z"}, "must be before end"),
        ({"start": "2026-05-01T10:00:00Z"}, "give both start and end"),
    ],
)
def test_a_malformed_range_is_refused_at_once_with_a_readable_reason(
    api: AirflowApi, conf: dict[str, str], reason: str
) -> None:
    run_id = api.trigger(DAG, conf)
    state = eventually(
        lambda: s if (s := api.run_state(DAG, run_id)) in ("success", "failed") else None,
        RUN_TIMEOUT_S,
        interval_s=2,
        what=f"DAG run {run_id} ended",
    )

    assert state == "failed"
    task = api.get(f"/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances/{TASK}")
    assert task["try_number"] == 1, "a refused range is not retried"
    assert reason in report_of(api, run_id)["error"]


def test_the_window_a_scheduled_run_checks_is_the_previous_hour_after_the_grace(api: AirflowApi) -> None:
    # `make up` unpauses the DAG, and the scheduler then creates the latest past scheduled run at once
    # (tests/integration/control_plane/test_maintenance_dags.py): wait for it to succeed, never skip.
    query = f"/api/v2/dags/{DAG}/dagRuns?run_type=scheduled&state=success&order_by=-run_after&limit=1"
    run: dict[str, Any] = eventually(  # type: ignore[assignment]
        lambda: next(iter(api.get(query)["dag_runs"]), None),
        RUN_TIMEOUT_S,
        interval_s=5,
        what="a scheduled reconciliation run succeeded",
    )
    run_after = datetime.fromisoformat(run["run_after"].replace("Z", "+00:00"))
    expected = (run_after - timedelta(minutes=10)).replace(minute=0, second=0, microsecond=0) - timedelta(
        hours=1
    )

    (window,) = report_of(api, run["dag_run_id"])["windows"]

    assert window["start"] == expected.strftime("%Y-%m-%dT%H:%M:%SZ")
