"""`make kafka-lag` and `make reset-checkpoint` against the running stack and its live, Airflow-run Spark job.

The stack's producer writes ~100 trades/s to `trades` all the time, so offsets move while we look: the lag
test pins the batch the command reported and reads that batch's offsets file itself. The reset test leaves
the job running and stream_supervisor unpaused whatever happens.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from finnhub_pipeline import variables
from finnhub_pipeline.stream_process import job_processes
from services import contracts
from services.layout import ROOT
from stack.airflow_api import STREAM_DAG, STREAM_TASK, AirflowApi
from stack.settings import RuntimeSettings
from testkit.waiting import eventually

# A 2-core machine shared with other Spark tests: the JVM start and the first batch are slow.
JOB_START_TIMEOUT_S = 300
ROW_LINE = re.compile(r"^\s*(\d+)\s+(\d+)\s+(\d+|-)\s+(-?\d+)\s*$")


def make(*args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    """`make` as a user runs it: not inheriting the variables of a `make test ARGS=...` around pytest (make
    exports a command-line variable to its children's environment too, so ARGS is also set explicitly)."""
    inherited = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"}
    return subprocess.run(
        ["make", "--no-print-directory", *args, "ARGS="],
        cwd=ROOT,
        env={name: value for name, value in os.environ.items() if name not in inherited},
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def checkpoint_of(runtime: RuntimeSettings) -> Path:
    return runtime.checkpoint_dir


def commit_ids(checkpoint: Path) -> list[int]:
    commits = checkpoint / "commits"
    return sorted(int(p.name) for p in commits.iterdir() if p.name.isdigit()) if commits.is_dir() else []


def batch_offsets(checkpoint: Path, batch_id: int) -> dict[int, int]:
    """Read the way Spark writes it, independently of stack.checkpoint."""
    source = (checkpoint / "offsets" / str(batch_id)).read_text().splitlines()[-1]
    return {int(p): int(o) for p, o in json.loads(source)[contracts.TRADES_TOPIC].items()}


def end_offsets(runtime: RuntimeSettings) -> dict[int, int]:
    consumer = Consumer(runtime.kafka_connection().client_options({"group.id": "test-kafka-lag-probe"}))
    try:
        topic = consumer.list_topics(contracts.TRADES_TOPIC, timeout=15).topics[contracts.TRADES_TOPIC]
        return {
            partition: consumer.get_watermark_offsets(
                TopicPartition(contracts.TRADES_TOPIC, partition), timeout=15
            )[1]
            for partition in topic.partitions
        }
    finally:
        consumer.close()


def job_is_committing(checkpoint: Path) -> bool:
    return bool(job_processes(checkpoint)) and bool(commit_ids(checkpoint))


@pytest.fixture
def api(runtime: RuntimeSettings) -> AirflowApi:
    return AirflowApi(runtime)


@pytest.fixture
def live_job(runtime: RuntimeSettings, api: AirflowApi) -> Iterator[Path]:
    """The Airflow-run job, up and committing; afterwards it is left so (unpaused, task restarted if down)
    and the starting-offsets Variable is as it was (absent reads as the DAG's default, earliest)."""
    checkpoint = checkpoint_of(runtime)
    starting_offsets = (
        api.variable(variables.SPARK_STARTING_OFFSETS) or variables.SPARK_STARTING_OFFSETS.default
    )
    try:
        api.set_paused(STREAM_DAG, False)
        eventually(
            lambda: job_is_committing(checkpoint),
            JOB_START_TIMEOUT_S,
            interval_s=3,
            what=f"the {STREAM_DAG} job runs and has committed a batch in {checkpoint}",
        )
        yield checkpoint
    finally:
        restore_job(api, checkpoint)
        api.set_variable(variables.SPARK_STARTING_OFFSETS, starting_offsets)


def restore_job(api: AirflowApi, checkpoint: Path) -> None:
    """Unpaused, and the submit task cleared when it waits for a retry, so the job comes back at once."""
    api.set_paused(STREAM_DAG, False)
    if job_processes(checkpoint):
        return
    run_id = api.running_run_id(STREAM_DAG)
    if run_id is not None and api.task_state(STREAM_DAG, run_id, STREAM_TASK) in ("up_for_retry", "failed"):
        api.clear_task(STREAM_DAG, run_id, STREAM_TASK)


def parse_lag_table(stdout: str) -> tuple[int, dict[int, tuple[int, int, int]], tuple[int, int, int]]:
    """(batch id, {partition: (end, committed, lag)}, (total end, total committed, total lag))."""
    header = re.search(r"last committed batch (\d+)", stdout)
    assert header, stdout
    rows: dict[int, tuple[int, int, int]] = {}
    total: tuple[int, int, int] | None = None
    for line in stdout.splitlines():
        if (match := ROW_LINE.match(line)) is not None:
            partition, end, committed, lag = match.groups()
            rows[int(partition)] = (int(end), -1 if committed == "-" else int(committed), int(lag))
        elif line.split()[:1] == ["total"]:
            total = tuple(int(value) for value in line.split()[1:])  # type: ignore[assignment]
    assert rows and total is not None, stdout
    return int(header.group(1)), rows, total


def test_kafka_lag_reports_end_offsets_minus_the_live_jobs_committed_offsets(
    runtime: RuntimeSettings, live_job: Path
) -> None:
    ends_before = end_offsets(runtime)
    result = make("kafka-lag")
    ends_after = end_offsets(runtime)
    assert result.returncode == 0, result.stdout + result.stderr

    batch_id, rows, total = parse_lag_table(result.stdout)
    committed = batch_offsets(live_job, batch_id)
    assert sorted(rows) == sorted(ends_before)
    for partition, (end, committed_offset, lag) in rows.items():
        assert committed_offset == committed[partition]
        assert ends_before[partition] <= end <= ends_after[partition]
        assert lag == end - committed_offset >= 0
    assert total == (
        sum(row[0] for row in rows.values()),
        sum(row[1] for row in rows.values()),
        sum(row[2] for row in rows.values()),
    )
    # The job keeps up with ~100 trades/s: it is behind by batches, not by the whole topic.
    assert total[2] < total[0]


def rows_received_after(session: Any, symbols: list[str], moment: datetime) -> list[Any]:
    found = []
    now = datetime.now(UTC)
    days = {moment.date(), now.date()}
    for symbol in symbols:
        for day in days:
            found.extend(
                session.execute(
                    "SELECT symbol, received_at, kafka_partition, kafka_offset FROM trading.trades_v2"
                    " WHERE symbol = %s AND trade_year = %s AND trade_month = %s AND trade_day = %s"
                    " AND timestamp > %s",
                    (symbol, day.year, day.month, day.day, moment - timedelta(minutes=10)),
                    timeout=30,
                )
            )
    return [row for row in found if row.received_at.replace(tzinfo=UTC) > moment]


@pytest.mark.faults
def test_reset_checkpoint_from_latest_restarts_the_job_on_a_fresh_checkpoint_and_new_trades_arrive(
    runtime: RuntimeSettings, api: AirflowApi, live_job: Path, cassandra_session: Any
) -> None:
    old_pids = {process.pid for process in job_processes(live_job)}
    ends_at_reset = end_offsets(runtime)
    reset_at = datetime.now(UTC)

    result = make("reset-checkpoint", "FROM=latest", timeout_s=600)

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for step in range(1, 6):
        assert f"==> {step}/5 " in output, output
    archived = re.search(r"to (\S+)/\n", result.stdout)
    assert archived, output
    archive_dir = ROOT / archived.group(1)
    assert archive_dir.parent == runtime.var_dir / "checkpoints" / "archive"
    assert archive_dir.name.startswith("spark_stream-")
    assert commit_ids(archive_dir), f"the archive {archive_dir} holds the old query's commits"
    assert not job_processes(archive_dir), "nothing runs on the archived checkpoint"
    assert api.variable(variables.SPARK_STARTING_OFFSETS) == "latest"
    assert api.get(f"/api/v2/dags/{STREAM_DAG}")["is_paused"] is False

    def restarted_on_a_fresh_checkpoint() -> bool:
        pids = {process.pid for process in job_processes(live_job)}
        return bool(pids) and not pids & old_pids and bool(commit_ids(live_job))

    eventually(
        restarted_on_a_fresh_checkpoint,
        JOB_START_TIMEOUT_S,
        interval_s=3,
        what="a new spark-submit writes a new checkpoint and commits a batch",
    )
    assert min(commit_ids(live_job)) == 0, "a new query, numbered from batch 0"
    # FROM=latest: the new query's first batch started at or after the topic's end at reset time.
    first_start = json.loads((live_job / "sources" / "0" / "0").read_text().splitlines()[-1])
    for partition, end in ends_at_reset.items():
        assert first_start[contracts.TRADES_TOPIC][str(partition)] >= end

    symbols = [symbol.strip() for symbol in runtime.symbols.split(",") if symbol.strip()]
    rows = eventually(
        lambda: rows_received_after(cassandra_session, symbols, reset_at),
        120,
        interval_s=5,
        what=f"trades received after the reset ({reset_at:%H:%M:%S}) in trading.trades_v2",
    )
    assert isinstance(rows, list)
    assert all(row.kafka_offset >= ends_at_reset[row.kafka_partition] for row in rows)
