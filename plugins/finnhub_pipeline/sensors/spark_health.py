"""Watches the streaming job beside its SparkSubmitOperator task and kills it when stuck or paused.

Every poke scrapes the job's metrics (and the topic's end offsets); `stream_health.verdict` decides. A stuck
job's spark-submit is killed, so the submit task fails and Airflow retries it with backoff. When the DAG is
paused the job is stopped the same way, and the retry waits until the DAG is unpaused.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseSensorOperator, Context
from confluent_kafka import KafkaException

from finnhub_pipeline import stream_health
from finnhub_pipeline.hooks.spark_health import SparkStreamProcessHook
from finnhub_pipeline.hooks.topics import KafkaTopicsHook
from finnhub_pipeline.operators._arguments import as_int
from finnhub_pipeline.stream_health import StreamSample
from services import contracts

DEFAULT_METRICS_URL = "http://127.0.0.1:{{ var.value.get('spark_stream_metrics_port', '8001') }}/metrics"
FINISHED_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})


class SparkStreamHealthSensor(BaseSensorOperator):
    """Succeeds when the stream task of the same run has finished; until then it supervises.

    :param stream_task_id: the SparkSubmitOperator task it watches
    :param application: the job's entry file, as on spark-submit's command line (to find its process)
    :param checkpoint: the job's checkpoint location; when set, only the process writing it is this job
    :param metrics_url: the job's Prometheus endpoint (template). In client deploy mode the driver runs
        where spark-submit runs, so the default is this machine; the sensor must run on the same worker
        as the submit task to kill it (one LocalExecutor machine, or pin both to one queue).
    :param stall_minutes: no completed batch for this long while lag grows = stuck (template)
    :param topic: the topic whose end offsets show the lag growing (None: use the job's own lag gauge)
    :param stop_when_paused: stop the job while its DAG is paused
    """

    template_fields: Sequence[str] = ("metrics_url", "stall_minutes", "checkpoint")

    def __init__(
        self,
        *,
        stream_task_id: str,
        application: str,
        metrics_url: str = DEFAULT_METRICS_URL,
        stall_minutes: int | str = 10,
        topic: str | None = contracts.TRADES_TOPIC,
        kafka_config_id: str = "kafka_default",
        stop_when_paused: bool = True,
        kill_grace_s: float = 30,
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
        self.kill_grace_s = kill_grace_s
        self.checkpoint = checkpoint
        self._samples: deque[StreamSample] = deque(maxlen=10_000)
        self._watched_pids: frozenset[int] = frozenset()
        self._kafka: KafkaTopicsHook | None = None
        self.kills = 0

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
            # Kafka down is no reason to kill the job (restarting it would not help): judge by its own gauge.
            self.log.warning("event=topic_offsets_unavailable topic=%s error=%s", self.topic, error)
            return None

    def poke(self, context: Context) -> bool:
        stall_s = as_int("stall_minutes", self.stall_minutes, 1) * 60
        state = self._stream_task_state(context)
        if state in FINISHED_STATES:
            self.log.info(
                "event=stream_task_finished task=%s state=%s kills=%d", self.stream_task_id, state, self.kills
            )
            return True
        processes = SparkStreamProcessHook(self.metrics_url, self.application, checkpoint=self.checkpoint)
        if self.stop_when_paused and self._dag_paused(context):
            if processes.submit_processes():
                self.log.warning("event=stream_stop reason=dag_paused task=%s", self.stream_task_id)
                processes.kill(self.kill_grace_s)
            self._samples.clear()
            return False
        pids = frozenset(process.pid for process in processes.submit_processes())
        if pids != self._watched_pids:
            # Another process (a retry) answers now: its history starts afresh.
            self._samples.clear()
            self._watched_pids = pids
        text = processes.scrape()
        if text is None:
            # Starting, between retries, or dead: a new process starts a new history.
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
            killed = processes.kill(self.kill_grace_s)
            self.kills += 1
            self.log.error("event=stream_killed reason=%r pids=%s", verdict.reason, killed)
            self._samples.clear()
        return False
