"""Entry point of the streaming job: `spark-submit jobs/spark_stream/main.py` (see README.md).

Only wires: validate settings, serve metrics, build the session, read Kafka, write each batch, wait.
"""

from __future__ import annotations

import logging
import sys

from prometheus_client import REGISTRY, start_http_server
from pydantic import ValidationError
from pyspark.errors import StreamingQueryException
from pyspark.sql import SparkSession

from jobs.spark_stream.listener import ProgressMetricsListener
from jobs.spark_stream.metrics import EventTimeClock, StreamMetrics
from jobs.spark_stream.settings import StreamSettings
from jobs.spark_stream.sinks import BatchWriter
from jobs.spark_stream.sources import read_trade_records

QUERY_NAME = "trades_to_cassandra"
log = logging.getLogger("jobs.spark_stream")


def _config_error_line(error: ValidationError) -> str:
    # Names the variable and the rule, never the value: it may be a password.
    problems = "; ".join(f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}" for e in error.errors())
    return f"spark_stream: invalid configuration: {problems}"


def build_session(settings: StreamSettings) -> SparkSession:
    builder = SparkSession.builder.appName("spark_stream")
    if settings.master:
        builder = builder.master(settings.master)
    return (
        builder.config("spark.sql.shuffle.partitions", str(settings.shuffle_partitions))
        # Start a batch's tasks at once on any free core. Waiting for the core a Kafka partition ran on
        # before (default 3 s) saves a consumer reconnect and costs whole seconds of latency per batch.
        .config("spark.locality.wait", "0s")
        # Transforms do not depend on it (they use epoch ms); it keeps logs and ad-hoc queries in UTC.
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )


def main() -> int:
    try:
        settings = StreamSettings()
    except ValidationError as error:
        print(_config_error_line(error), file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)  # one INFO line per callback otherwise

    metrics = StreamMetrics(REGISTRY)
    try:
        start_http_server(settings.metrics_port)
    except OSError as error:
        print(
            f"spark_stream: cannot serve metrics on port {settings.metrics_port} "
            f"(SPARK_STREAM_METRICS_PORT): {error}",
            file=sys.stderr,
        )
        return 2

    spark = build_session(settings)
    spark.sparkContext.setLogLevel("WARN")
    spark.streams.addListener(ProgressMetricsListener(metrics))
    writer = BatchWriter(settings.cassandra_target(), metrics, EventTimeClock(settings.watermark_ms))
    query = (
        read_trade_records(spark, settings)
        .writeStream.queryName(QUERY_NAME)
        .foreachBatch(writer.write_batch)
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
