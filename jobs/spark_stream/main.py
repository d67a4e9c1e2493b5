"""Entry point of the streaming job: `spark-submit jobs/spark_stream/main.py` (see README.md).

Only wires: settings, metrics server, Spark session, the streaming query (extract: `sources`, transform:
`transforms`), its `foreachBatch` load (`batch_writer`), and waits.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from prometheus_client import REGISTRY, start_http_server
from pyspark.errors import StreamingQueryException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.spark_stream import transforms
from jobs.spark_stream.batch_writer import BatchWriter
from jobs.spark_stream.listener import ProgressMetricsListener
from jobs.spark_stream.metrics import EventTimeClock, StreamMetrics
from jobs.spark_stream.settings import StreamSettings
from jobs.spark_stream.sources import read_trade_records
from services import layout
from services.configuration import EXIT_CONFIG

PROGRAM = "spark_stream"
QUERY_NAME = "trades_to_cassandra"
log = logging.getLogger("jobs.spark_stream")


CHECKPOINT_FILE_MANAGER = "spark.sql.streaming.checkpointFileManagerClass"
LOCAL_CHECKPOINT_FILE_MANAGER = (
    "org.apache.spark.sql.execution.streaming.checkpointing.FileSystemBasedCheckpointFileManager"
)
"""Spark's checkpoint writer through Hadoop's `FileSystem` API, for a checkpoint on the local disk.

Spark's default writes through `FileContext`, whose rename reads both paths' links first. Hadoop without its
native library (as pip's PySpark ships) forks `readlink` for each, and `chmod` for each file it creates: 12
processes a batch for the offset and commit files, 95 ms of a 340 ms batch at 1,000 trades/s. Through
`FileSystem`, a rename is the local rename(2), atomic as Spark needs; only the 4 `chmod`s are left (29 ms).
Spark warns that `FileSystem` renames are not atomic on some stores (S3), so a checkpoint given as a URI of
another file system keeps Spark's default."""


def checkpoint_options(checkpoint_location: str) -> dict[str, str]:
    """The session options for writing the checkpoint at `checkpoint_location`."""
    if layout.local_checkpoint_folder(checkpoint_location) is None:
        return {}
    return {CHECKPOINT_FILE_MANAGER: LOCAL_CHECKPOINT_FILE_MANAGER}


def build_session(settings: StreamSettings) -> SparkSession:
    builder = SparkSession.builder.appName(PROGRAM)
    if settings.master:
        builder = builder.master(settings.master)
    for key, value in checkpoint_options(settings.checkpoint_location).items():
        builder = builder.config(key, value)
    return (
        builder.config("spark.sql.shuffle.partitions", str(settings.shuffle_partitions))
        # Start a batch's tasks at once on any free core. Waiting for the core a Kafka partition ran on
        # before (default 3 s) saves a consumer reconnect and costs whole seconds of latency per batch.
        .config("spark.locality.wait", "0s")
        # Transforms do not depend on it (they use epoch ms); it keeps logs and ad-hoc queries in UTC.
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )


def write_each_batch(writer: BatchWriter) -> Callable[[DataFrame, int], None]:
    """The `foreachBatch` function: a micro-batch's `transforms.trade_outcomes` to the writer, with the
    writer's clock at the batch's start."""

    def each_batch(outcome_rows: DataFrame, epoch_id: int) -> None:
        writer.write_batch(outcome_rows, epoch_id, writer.now_ms())

    return each_batch


def main() -> int:
    settings = StreamSettings.load_or_exit(PROGRAM)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)  # one INFO line per callback otherwise

    metrics = StreamMetrics(REGISTRY)
    try:
        start_http_server(settings.metrics_port)
    except OSError as error:
        print(
            f"{PROGRAM}: cannot serve metrics on port {settings.metrics_port} (SPARK_METRICS_PORT): {error}",
            file=sys.stderr,
        )
        return EXIT_CONFIG

    spark = build_session(settings)
    spark.sparkContext.setLogLevel("WARN")
    spark.streams.addListener(ProgressMetricsListener(metrics))
    writer = BatchWriter(
        settings.cassandra_target(),
        metrics,
        EventTimeClock(settings.watermark_ms),
        bar_book_trades=settings.bar_book_trades,
    )
    # The transforms are part of the streaming query, analysed once, not every batch (that was an eighth of
    # the driver JVM's time per batch). In a streaming query, today is the batch's date.
    outcomes = transforms.trade_outcomes(read_trade_records(spark, settings), today=F.current_date())
    query = (
        outcomes.writeStream.queryName(QUERY_NAME)
        .foreachBatch(write_each_batch(writer))
        .option("checkpointLocation", settings.checkpoint_location)
        .trigger(processingTime=settings.trigger_interval)
        .start()
    )
    log.info(
        "event=query_starting topic=%s checkpoint=%s trigger=%s",
        settings.topic,
        settings.checkpoint_location,
        settings.trigger_interval,
    )
    try:
        query.awaitTermination()
    except StreamingQueryException as error:
        # The batch is not committed: a restart (Airflow's supervisor) replays it from the checkpoint.
        log.error("event=query_failed name=%s error=%s", QUERY_NAME, str(error).splitlines()[0])
        return 1
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
