"""The extract step: the streaming read of the trades topic with Spark's Kafka source.

Returns the Kafka source's raw columns (key, value, topic, partition, offset, timestamp); parsing and
validation are `transforms.parse_trade_records`' job, so garbage bytes reach it instead of failing here.
The connection options are `services.kafka_options`' (the same connection every Kafka client uses).
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from jobs.spark_stream.settings import StreamSettings


def starting_position_options(settings: StreamSettings) -> dict[str, str]:
    """The Kafka source options saying where a query with an empty checkpoint starts."""
    timestamp_ms = settings.starting_timestamp_ms
    if timestamp_ms is None:
        return {"startingOffsets": settings.starting_offsets}
    return {
        "startingTimestamp": str(timestamp_ms),
        # A partition with no record at or after the time (idle, or a time in the future) starts at its
        # end instead of failing the query (Spark's default strategy is `error`).
        "startingOffsetsByTimestampStrategy": "latest",
    }


RANGES_PER_CORE = 4
"""Offset ranges a batch is cut into per core (the source's `minPartitions`), for `batch_rows` to coalesce
into one task per core of near-equal size: trades are keyed by symbol, so one Kafka partition can hold most
of a batch (7 of the 10 symbols of `make bench-stream`), and one task per Kafka partition would leave a
core idle."""


def min_partitions(spark: SparkSession) -> int:
    """The source's `minPartitions`: RANGES_PER_CORE offset ranges per core. Spark cuts each Kafka
    partition's range of a batch into pieces in proportion to its size."""
    return spark.sparkContext.defaultParallelism * RANGES_PER_CORE


def read_trade_records(spark: SparkSession, settings: StreamSettings) -> DataFrame:
    """An unbounded DataFrame of the topic's records, resumed from the checkpoint when there is one."""
    return (
        spark.readStream.format("kafka")
        .options(**settings.kafka_connection().spark_source_options())
        .option("subscribe", settings.topic)
        .options(**starting_position_options(settings))
        .option("maxOffsetsPerTrigger", settings.max_offsets_per_trigger)
        .option("minPartitions", min_partitions(spark))
        .option("failOnDataLoss", str(settings.fail_on_data_loss).lower())
        .load()
    )
