"""Compaction through the real nodetool, and stopping the stream job (`stream_process`, which the stream
supervisor's sensor calls) on a real process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from finnhub_pipeline import stream_process
from finnhub_pipeline.hooks.nodetool import NodetoolHook
from finnhub_pipeline.operators.compaction import CassandraCompactionOperator
from finnhub_pipeline.sensors.spark_health import scrape_metrics


def test_compaction_reports_sstables_before_and_after(
    fresh_keyspace: Callable[[str], str], cassandra_session: Any
) -> None:
    keyspace = fresh_keyspace("cmp")
    cassandra_session.execute(
        f"CREATE KEYSPACE {keyspace} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    cassandra_session.execute(f"CREATE TABLE {keyspace}.bars (k int, c int, v text, PRIMARY KEY (k, c))")
    nodetool = NodetoolHook()
    for flush in range(3):  # three flushes: three SSTables for compaction to merge
        for row in range(10):
            cassandra_session.execute(f"INSERT INTO {keyspace}.bars (k, c, v) VALUES ({row}, {flush}, 'x')")
        nodetool.flush(keyspace, "bars")

    report = CassandraCompactionOperator(task_id="compact", keyspace=keyspace, tables=["bars"]).execute({})

    assert report["bars"]["before"]["sstable_count"] == 3
    assert report["bars"]["after"]["sstable_count"] == 1
    assert report["bars"]["after"]["space_used_live_bytes"] > 0


def test_stop_ends_only_the_spark_submit_process_of_this_application(tmp_path: Path) -> None:
    application = str(tmp_path / "jobs" / "spark_stream" / "main.py")
    sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]
    ours = subprocess.Popen([*sleeper, stream_process.SPARK_SUBMIT_CLASS, application])
    other = subprocess.Popen([*sleeper, stream_process.SPARK_SUBMIT_CLASS, str(tmp_path / "other.py")])
    try:
        assert [p.pid for p in stream_process.job_processes(application=application)] == [ours.pid]
        assert stream_process.stop_job(application=application, grace_s=10).pids == (ours.pid,)
        ours.wait(timeout=10)  # ended (psutil reaped it already, so its exit status is not ours to see)
        assert other.poll() is None
        assert scrape_metrics("http://127.0.0.1:9/metrics") is None  # nothing listens on the discard port
    finally:
        for process in (ours, other):
            process.kill()
            process.wait()
