"""Watches the streaming job beside its SparkSubmitOperator task, and has it stopped when stuck or paused.

Every poke scrapes the job's metrics (and the topic's end offsets); `stream_health.verdict` decides. A stuck
job is stopped through `stream_process.stop_job`, so the submit task fails and Airflow retries it with
backoff. When the DAG is paused the job is stopped the same way, and the retry waits until the unpause.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import BaseSensorOperator, Context
from confluent_kafka import KafkaException

from finnhub_pipeline import stream_health, stream_process, stream_submit, variables
from finnhub_pipeline.connections import KAFKA_CONN_ID
from finnhub_pipeline.hooks.topics import KafkaTopicsHook
from finnhub_pipeline.operators._arguments import as_int
from finnhub_pipeline.stream_health import StreamSample
from services import contracts

DEFAULT_METRICS_URL = f"http://127.0.0.1:{variables.SPARK_METRICS_PORT.template}/metrics"
"""The driver serves its metrics on the port the stream_supervisor DAG passes the job (SPARK_METRICS_PORT)."""
FINISHED_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})


def scrape_metrics(url: str, timeout_s: float = 10) -> str | None:
    """The job's metrics page, or None when nothing answers (starting, stopped, or between two tries)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return str(response.read().decode("utf-8"))
    except (urllib.error.URLError, OSError):
        return None


class SparkStreamHealthSensor(BaseSensorOperator):
    """Succeeds when the stream task of the same run has finished; until then it supervises.

    :param stream_task_id: the SparkSubmitOperator task it watches
    :param application: the job's entry file, as on spark-submit's command line (to find its process)
    :param checkpoint: the job's checkpoint location (template); when set, only the process writing it is
        this job (another run of the same file, a test's or a benchmark's, is left alone)
    :param metrics_url: the job's Prometheus endpoint (template). In client deploy mode the driver runs
        where spark-submit runs, so the default is this machine; the sensor must run on the same worker
        as the submit task to stop it (one LocalExecutor machine, or pin both to one queue).
    :param stall_minutes: no completed batch for this long while lag grows = stuck (template)
    :param topic: the topic whose end offsets show the lag growing (None: use the job's own lag gauge)
    :param stop_when_paused: stop the job while its DAG is paused
    :param stop_grace_s: how long the job has to stop after SIGTERM before it is killed
    """

    template_fields: Sequence[str] = ("metrics_url", "stall_minutes", "checkpoint")

    def __init__(
        self,
        *,
        stream_task_id: str,
        application: str = str(stream_submit.APPLICATION),
        metrics_url: str = DEFAULT_METRICS_URL,
        stall_minutes: int | str = variables.SPARK_STALL_MINUTES.template,
        topic: str | None = contracts.TRADES_TOPIC,
        kafka_config_id: str = KAFKA_CONN_ID,
        stop_when_paused: bool = True,
        stop_grace_s: float = 30,
        checkpoint: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("mode", "poke")  # the decision needs the history of scrapes kept in memory
        super().__init__(**kwargs)
        self.stream_task_id = stream_task_id
        self.application = application
        self.metrics_url = metrics_url
        self.stall_minutes = stall_minutes
        self.topic = topic
        self.kafka_config_id = kafka_config_id
        self.stop_when_paused = stop_when_paused
        self.stop_grace_s = stop_grace_s
        self.checkpoint = checkpoint
        self._samples: deque[StreamSample] = deque(maxlen=10_000)
        self._watched_pids: frozenset[int] = frozenset()
        self._kafka: KafkaTopicsHook | None = None
        self.stops = 0

    def _stream_task_state(self, context: Context) -> str | None:
        ti = context["ti"]
        states = ti.get_task_states(dag_id=ti.dag_id, task_ids=[self.stream_task_id], run_ids=[ti.run_id])
        return states.get(ti.run_id, {}).get(self.stream_task_id)

    def _dag_paused(self, context: Context) -> bool:
        ti = context["ti"]
        return bool(ti.get_dag(ti.dag_id).is_paused)

    def _topic_end_offset(self) -> float | None:
        if self.topic is None:
            return None
        if self._kafka is None:
            self._kafka = KafkaTopicsHook(kafka_config_id=self.kafka_config_id)
        try:
            return float(self._kafka.end_offset_total(self.topic))
        except (KafkaException, KeyError) as error:
            # Kafka down is no reason to stop the job (restarting it would not help): judge by its own gauge.
            self.log.warning("event=topic_offsets_unavailable topic=%s error=%s", self.topic, error)
            return None

    def _checkpoint_path(self) -> Path | None:
        return Path(self.checkpoint) if self.checkpoint else None

    def _stop_job(self, reason: str) -> stream_process.StopResult:
        """The one stop sequence (SIGTERM, wait for the JVM and its children, SIGKILL) of the one place."""
        result = stream_process.stop_job(self._checkpoint_path(), self.application, grace_s=self.stop_grace_s)
        if result.pids:
            self.log.warning(
                "event=stream_stopped reason=%r task=%s pids=%s children=%d killed=%s seconds=%.1f",
                reason,
                self.stream_task_id,
                list(result.pids),
                result.children,
                list(result.killed),
                result.seconds,
            )
        return result

    def poke(self, context: Context) -> bool:
        stall_s = as_int("stall_minutes", self.stall_minutes, 1) * 60
        state = self._stream_task_state(context)
        if state in FINISHED_STATES:
            self.log.info(
                "event=stream_task_finished task=%s state=%s stops=%d", self.stream_task_id, state, self.stops
            )
            return True
        if self.stop_when_paused and self._dag_paused(context):
            self._stop_job("dag_paused")
            self._samples.clear()
            return False
        pids = frozenset(
            process.pid for process in stream_process.job_processes(self._checkpoint_path(), self.application)
        )
        if pids != self._watched_pids:
            # Another process (a retry) answers now: its history starts afresh.
            self._samples.clear()
            self._watched_pids = pids
        text = scrape_metrics(self.metrics_url)
        if text is None:
            # Starting, between retries, or dead: a new process starts a new history.
            self.log.info("event=stream_metrics_unavailable url=%s", self.metrics_url)
            self._samples.clear()
            return False
        sample = stream_health.parse_metrics(text, time.time(), self._topic_end_offset())
        self._samples.append(sample)
        verdict = stream_health.verdict(list(self._samples), stall_s)
        self.log.info(
            "event=stream_health stuck=%s last_batch=%s lag=%.0f topic_end=%s reason=%r",
            verdict.stuck,
            sample.last_batch_completed,
            sample.offsets_behind,
            sample.topic_end_offset,
            verdict.reason,
        )
        if verdict.stuck:
            self.log.error("event=stream_stuck reason=%r", verdict.reason)
            self._stop_job(verdict.reason)
            self.stops += 1
            self._samples.clear()
        return False
