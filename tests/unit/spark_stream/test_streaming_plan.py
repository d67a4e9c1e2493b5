"""The transforms as the job runs them: part of a streaming query, whose plan Spark compiles once, not every
batch (a value that changes every batch in the plan would be written into its generated code)."""

from __future__ import annotations

import time

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.spark_stream.batch_rows import collect_outcomes
from jobs.spark_stream.transforms import trade_outcomes
from services import contracts


def kafka_shaped_stream(spark: SparkSession) -> DataFrame:
    """Spark's rate source as Kafka records: one trade a row, its time the row's number."""
    trade = F.concat(
        F.lit('{"schema_version":1,"trade_id":"t","symbol":"AAPL","price":1.5,"volume":2.0,'),
        F.lit('"received_at_ms":1,"trade_ts_ms":'),
        F.col("value").cast("string"),
        F.lit("}"),
    )
    return (
        spark.readStream.format("rate")
        .option("rowsPerSecond", 20)
        .load()
        .select(
            F.lit(b"AAPL").alias("key"),
            trade.cast("binary").alias("value"),
            F.lit(contracts.TRADES_TOPIC).alias("topic"),
            F.lit(0).alias("partition"),
            F.col("value").alias("offset"),
            F.col("timestamp"),
        )
    )


def test_the_streaming_query_compiles_no_code_after_its_first_batches(spark: SparkSession) -> None:
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    compilations = jvm.org.apache.spark.metrics.source.CodegenMetrics.METRIC_COMPILATION_TIME()
    outcomes = trade_outcomes(kafka_shaped_stream(spark), today=F.current_date())
    batches: list[tuple[int, int]] = []  # (rows the driver collected, compilations so far)

    def each_batch(frame: DataFrame, epoch_id: int) -> None:
        trades, dead_letters = collect_outcomes(frame)
        batches.append((len(trades) + len(dead_letters), compilations.getCount()))

    query = outcomes.writeStream.foreachBatch(each_batch).trigger(processingTime="0.2 seconds").start()
    try:
        deadline = time.monotonic() + 90
        while len(batches) < 8 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        query.stop()

    assert len(batches) >= 8 and sum(rows for rows, _ in batches[3:]) > 0
    assert batches[-1][1] == batches[2][1], f"code compiled again in later batches: {batches}"
