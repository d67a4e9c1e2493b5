"""Feeds Spark's own view of each micro-batch (rates, duration, Kafka offsets behind) into the metrics.

Runs on the driver, called by Spark after every batch; only translates, the math is in `metrics`.
"""

from __future__ import annotations

import json
import logging
from typing import Any, ClassVar

from pyspark import SparkContext
from pyspark.sql.streaming import StreamingQueryListener
from pyspark.sql.streaming.listener import (
    QueryIdleEvent,
    QueryProgressEvent,
    QueryStartedEvent,
    QueryTerminatedEvent,
)

from jobs.spark_stream.metrics import StreamMetrics, kafka_offsets_behind

log = logging.getLogger(__name__)


class EventsAsJson:
    """The Py4J side of a listener: each event crosses from the JVM as its JSON, in one call.

    PySpark's own side reads an event field by field, and each Java map in it (a batch's durations, its
    event times, every source's and the sink's metrics) ends its iteration with a Java exception that
    PySpark converts by looking up a dozen exception classes by name. Each miss reads every jar of Spark's
    class path: that was a quarter of the driver JVM's samples at steady state. The JSON form is the one
    Spark Connect sends, with PySpark's own `fromJson`.
    """

    def __init__(self, listener: StreamingQueryListener) -> None:
        self.listener = listener

    def onQueryStarted(self, jevent: Any) -> None:
        self.listener.onQueryStarted(QueryStartedEvent.fromJson(json.loads(jevent.json())))

    def onQueryProgress(self, jevent: Any) -> None:
        self.listener.onQueryProgress(QueryProgressEvent.fromJson(json.loads(jevent.json())))

    def onQueryIdle(self, jevent: Any) -> None:
        self.listener.onQueryIdle(QueryIdleEvent.fromJson(json.loads(jevent.json())))

    def onQueryTerminated(self, jevent: Any) -> None:
        self.listener.onQueryTerminated(QueryTerminatedEvent.fromJson(json.loads(jevent.json())))

    class Java:
        implements: ClassVar = ["org.apache.spark.sql.streaming.PythonStreamingQueryListener"]


class ProgressMetricsListener(StreamingQueryListener):
    def __init__(self, metrics: StreamMetrics) -> None:
        self.metrics = metrics
        self._java_listener: Any = None

    @property
    def _jlistener(self) -> Any:
        """What `spark.streams.addListener` registers: Spark's wrapper of a Py4J listener, here of
        `EventsAsJson` rather than PySpark's field-by-field one."""
        if self._java_listener is None:
            jvm = SparkContext._jvm
            assert jvm is not None, "a listener is registered on a running SparkContext"
            self._java_listener = jvm.PythonStreamingQueryListenerWrapper(EventsAsJson(self))
        return self._java_listener

    def onQueryStarted(self, event: Any) -> None:
        self.metrics.query_active.set(1)
        log.info("event=query_started id=%s run_id=%s name=%s", event.id, event.runId, event.name)

    def onQueryProgress(self, event: Any) -> None:
        progress = event.progress
        self.metrics.input_rows_per_second.set(progress.inputRowsPerSecond or 0.0)
        self.metrics.processed_rows_per_second.set(progress.processedRowsPerSecond or 0.0)
        self.metrics.batch_duration.observe(progress.batchDuration / 1000)
        for source in progress.sources:
            self.metrics.record_offsets_behind(kafka_offsets_behind(source.endOffset, source.latestOffset))
        durations = progress.durationMs
        spark_ms = self.metrics.record_batch_time(progress.batchId, durations.get("triggerExecution", 0))
        # Where a batch's time went: Spark's phases (addBatch is our foreachBatch, the job's own writes are
        # in event=batch_written), and spark_ms, the batch's wall time less the job's writes.
        log.info(
            "event=batch_progress batch=%d rows=%d spark_ms=%s %s",
            progress.batchId,
            progress.numInputRows,
            "none" if spark_ms is None else spark_ms,
            " ".join(f"{phase}_ms={ms}" for phase, ms in sorted(durations.items())),
        )

    def onQueryIdle(self, event: Any) -> None:
        pass

    def onQueryTerminated(self, event: Any) -> None:
        self.metrics.query_active.set(0)
        log.info(
            "event=query_terminated id=%s error=%s", event.id, (event.exception or "none").splitlines()[0]
        )
