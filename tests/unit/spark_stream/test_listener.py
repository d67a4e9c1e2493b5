"""The progress listener on a real local streaming query: every batch reaches the metrics and the log."""

from __future__ import annotations

import logging
import time

import pytest
from prometheus_client import CollectorRegistry
from pyspark.sql import DataFrame, SparkSession

from jobs.spark_stream import listener as listener_module
from jobs.spark_stream.listener import ProgressMetricsListener
from jobs.spark_stream.metrics import StreamMetrics
from services import contracts

BATCHES = 3


def test_each_batch_reaches_the_metrics_and_the_log_through_its_json(
    spark: SparkSession, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    converted: list[str] = []
    as_json = listener_module.EventsAsJson.onQueryProgress

    def counting(self: listener_module.EventsAsJson, jevent: object) -> None:
        converted.append("progress")
        as_json(self, jevent)

    monkeypatch.setattr(listener_module.EventsAsJson, "onQueryProgress", counting)
    registry = CollectorRegistry()
    listener = ProgressMetricsListener(StreamMetrics(registry))
    spark.streams.addListener(listener)
    batches: list[int] = []

    def each_batch(frame: DataFrame, epoch_id: int) -> None:
        listener.metrics.record_written_steps(epoch_id, {})
        batches.append(frame.count())

    caplog.set_level(logging.INFO, logger=listener_module.__name__)
    query = (
        spark.readStream.format("rate")
        .option("rowsPerSecond", 50)
        .load()
        .writeStream.foreachBatch(each_batch)
        .trigger(processingTime="0.2 seconds")
        .start()
    )
    try:
        deadline = time.monotonic() + 60
        while len(converted) < BATCHES and time.monotonic() < deadline:
            time.sleep(0.1)
        assert registry.get_sample_value(contracts.SPARK_QUERY_ACTIVE) == 1
    finally:
        query.stop()
        spark.streams.removeListener(listener)

    assert len(converted) >= BATCHES
    observed = registry.get_sample_value(f"{contracts.SPARK_BATCH_DURATION}_count")
    assert observed is not None and observed >= BATCHES
    assert (registry.get_sample_value(contracts.SPARK_PROCESSED_ROWS_PER_SECOND) or 0) > 0
    progress_lines = [r.getMessage() for r in caplog.records if "event=batch_progress" in r.getMessage()]
    assert len(progress_lines) >= BATCHES and all("triggerExecution_ms=" in line for line in progress_lines)
