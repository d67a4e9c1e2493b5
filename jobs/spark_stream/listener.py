"""Feeds Spark's own view of each micro-batch (rates, duration, Kafka offsets behind) into the metrics.

Runs on the driver, called by Spark after every batch; only translates, the math is in `metrics`.
"""

from __future__ import annotations

import logging
from typing import Any

from pyspark.sql.streaming import StreamingQueryListener

from jobs.spark_stream.metrics import StreamMetrics, kafka_offsets_behind

log = logging.getLogger(__name__)


class ProgressMetricsListener(StreamingQueryListener):
    def __init__(self, metrics: StreamMetrics) -> None:
        self.metrics = metrics

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
