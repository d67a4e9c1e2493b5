"""The stream health sensor: finishes with the stream task, stops a stuck job, stops a paused one; stopping
is `stream_process.stop_job`'s, which it is handed the job's application and checkpoint for."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from finnhub_pipeline import stream_process, variables
from finnhub_pipeline.sensors import spark_health
from finnhub_pipeline.stream_process import StopResult
from jobs.spark_stream.metrics import StreamMetrics
from jobs.spark_stream.settings import CHECKPOINT_VARIABLE

APP = "/repo/jobs/spark_stream/main.py"


class FakeTi:
    def __init__(self) -> None:
        self.dag_id, self.run_id = "stream_supervisor", "run-1"
        self.state: str | None = "running"
        self.paused = False

    def get_task_states(self, dag_id: str, task_ids: list[str], run_ids: list[str]) -> dict[str, Any]:
        assert (dag_id, task_ids, run_ids) == (self.dag_id, ["submit_stream"], [self.run_id])
        return {self.run_id: {"submit_stream": self.state}}

    def get_dag(self, dag_id: str) -> Any:
        return SimpleNamespace(is_paused=self.paused)


class FakeJob:
    """The job's metrics page and its processes, as the sensor sees them through `stream_process`."""

    def __init__(self) -> None:
        self.pids = [4242]
        self.last_batch = 0.0
        self.up = True
        self.killed: list[list[int]] = []

    def page(self) -> str | None:
        if not self.up:
            return None
        registry = CollectorRegistry()
        metrics = StreamMetrics(registry)
        metrics.last_batch_completed.set(self.last_batch)
        metrics.query_active.set(1)
        return generate_latest(registry).decode()


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    job, clock, offsets = FakeJob(), [10_000.0], [100.0]

    def job_processes(checkpoint: Path | None = None, application: str | None = None) -> list[Any]:
        assert application == APP
        return [SimpleNamespace(pid=pid) for pid in job.pids]

    def stop_job(
        checkpoint: Path | None = None, application: str | None = None, grace_s: float = 60
    ) -> StopResult:
        assert application == APP
        if job.pids:
            job.killed.append(list(job.pids))
        return StopResult(pids=tuple(job.pids), children=0, killed=(), seconds=0.0)

    monkeypatch.setattr(stream_process, "job_processes", job_processes)
    monkeypatch.setattr(stream_process, "stop_job", stop_job)
    monkeypatch.setattr(spark_health, "scrape_metrics", lambda url: job.page())
    monkeypatch.setattr(spark_health.time, "time", lambda: clock[0])
    sensor = spark_health.SparkStreamHealthSensor(
        task_id="watch_stream", stream_task_id="submit_stream", application=APP, stall_minutes="10"
    )
    monkeypatch.setattr(sensor, "_topic_end_offset", lambda: offsets[0])
    return SimpleNamespace(job=job, clock=clock, offsets=offsets, sensor=sensor, ti=FakeTi())


def poke_every_minute(world: SimpleNamespace, minutes: int, trades_per_minute: float) -> list[bool]:
    results = []
    for _ in range(minutes):
        results.append(world.sensor.poke({"ti": world.ti}))
        world.clock[0] += 60
        world.offsets[0] += trades_per_minute
    return results


def test_sensor_succeeds_once_the_stream_task_has_finished(world: SimpleNamespace) -> None:
    world.ti.state = "failed"
    assert world.sensor.poke({"ti": world.ti}) is True


def test_sensor_keeps_watching_while_the_stream_task_waits_to_retry(world: SimpleNamespace) -> None:
    world.ti.state = "up_for_retry"
    world.job.up = False
    assert world.sensor.poke({"ti": world.ti}) is False


def test_a_job_completing_batches_is_left_alone(world: SimpleNamespace) -> None:
    for _ in range(15):
        world.job.last_batch = world.clock[0] - 5
        poke_every_minute(world, 1, trades_per_minute=500)
    assert world.job.killed == []


def test_an_idle_job_without_new_trades_is_left_alone(world: SimpleNamespace) -> None:
    world.job.last_batch = world.clock[0]
    poke_every_minute(world, 20, trades_per_minute=0)
    assert world.job.killed == []


def test_a_job_without_batches_while_trades_pile_up_is_stopped_once(world: SimpleNamespace) -> None:
    world.job.last_batch = world.clock[0]
    results = poke_every_minute(world, 12, trades_per_minute=100)
    assert world.job.killed == [[4242]]
    assert not any(results)
    assert world.sensor.stops == 1


def test_a_restarted_job_gets_a_fresh_history(world: SimpleNamespace) -> None:
    world.job.last_batch = 0  # the old process never completed a batch
    poke_every_minute(world, 8, trades_per_minute=100)
    world.job.pids = [5151]  # a retry started between two pokes
    poke_every_minute(world, 8, trades_per_minute=100)
    assert world.job.killed == []


def test_pausing_the_dag_stops_the_job(world: SimpleNamespace) -> None:
    world.ti.paused = True
    assert world.sensor.poke({"ti": world.ti}) is False
    assert world.job.killed == [[4242]]
    world.job.pids = []
    world.sensor.poke({"ti": world.ti})
    assert world.job.killed == [[4242]]


def test_kafka_being_unreachable_falls_back_to_the_jobs_own_lag_gauge() -> None:
    from confluent_kafka import KafkaError, KafkaException

    class DownKafka:
        def end_offset_total(self, topic: str) -> int:
            raise KafkaException(KafkaError(KafkaError._TRANSPORT))

    sensor = spark_health.SparkStreamHealthSensor(
        task_id="watch_stream", stream_task_id="submit_stream", application=APP
    )
    sensor._kafka = DownKafka()  # type: ignore[assignment]
    assert sensor._topic_end_offset() is None


def test_the_default_metrics_url_reads_the_port_variable_the_job_is_given() -> None:
    sensor = spark_health.SparkStreamHealthSensor(task_id="watch_stream", stream_task_id="submit_stream")
    assert sensor.metrics_url == f"http://127.0.0.1:{variables.SPARK_METRICS_PORT.template}/metrics"


def test_with_a_checkpoint_only_the_process_writing_it_is_stopped(tmp_path: Path) -> None:
    """A test's or a benchmark's run of the same main.py, with a checkpoint of its own, is not stopped: real
    processes carrying spark-submit's class and the entry file, told apart by their checkpoint variable."""
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    command = [sys.executable, "-c", "import time; time.sleep(120)", stream_process.SPARK_SUBMIT_CLASS, APP]
    started = {
        checkpoint: subprocess.Popen(command, env={**os.environ, CHECKPOINT_VARIABLE: str(checkpoint)})
        for checkpoint in (ours, theirs)
    }
    try:
        sensor = spark_health.SparkStreamHealthSensor(
            task_id="watch_stream",
            stream_task_id="submit_stream",
            application=APP,
            checkpoint=str(ours),
            stall_minutes="10",
        )
        ti = FakeTi()
        ti.paused = True
        context: Any = {"ti": ti}
        assert sensor.poke(context) is False
        assert started[ours].wait(timeout=10) is not None
        assert started[theirs].poll() is None
    finally:
        for process in started.values():
            process.kill()
            process.wait()
