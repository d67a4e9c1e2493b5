"""The checkpoint writer the job chooses: Spark's `FileSystem` one for a checkpoint on the local disk."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession

from jobs.spark_stream.main import (
    CHECKPOINT_FILE_MANAGER,
    LOCAL_CHECKPOINT_FILE_MANAGER,
    checkpoint_options,
)

CHECKPOINT_FILE_MANAGER_INTERFACE = (
    "org.apache.spark.sql.execution.streaming.checkpointing.CheckpointFileManager"
)


@pytest.mark.parametrize(
    "location", ["/var/lib/pipeline/checkpoints", "file:/tmp/checkpoints", "file:///tmp/c"]
)
def test_a_checkpoint_on_the_local_disk_is_written_through_the_file_system_api(location: str) -> None:
    assert checkpoint_options(location) == {CHECKPOINT_FILE_MANAGER: LOCAL_CHECKPOINT_FILE_MANAGER}


@pytest.mark.parametrize("location", ["hdfs://namenode:8020/checkpoints", "s3a://bucket/checkpoints"])
def test_a_checkpoint_elsewhere_keeps_sparks_default_writer(location: str) -> None:
    assert checkpoint_options(location) == {}


def test_the_writer_is_a_checkpoint_file_manager_of_the_pinned_spark(spark: SparkSession) -> None:
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    interface = jvm.java.lang.Class.forName(CHECKPOINT_FILE_MANAGER_INTERFACE)
    assert interface.isAssignableFrom(jvm.java.lang.Class.forName(LOCAL_CHECKPOINT_FILE_MANAGER))


def test_a_query_commits_its_batches_through_the_writer(spark: SparkSession, tmp_path: Path) -> None:
    checkpoint = tmp_path / "checkpoint"
    ((key, value),) = checkpoint_options(str(checkpoint)).items()
    spark.conf.set(key, value)
    counts: list[int] = []

    def each_batch(frame: DataFrame, epoch_id: int) -> None:
        counts.append(frame.count())

    try:
        query = (
            spark.readStream.format("rate")
            .option("rowsPerSecond", 20)
            .load()
            .writeStream.foreachBatch(each_batch)
            .option("checkpointLocation", str(checkpoint))
            .trigger(processingTime="0.2 seconds")
            .start()
        )
        deadline = time.monotonic() + 60
        while len(list((checkpoint / "commits").glob("[0-9]*"))) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        query.stop()
    finally:
        spark.conf.unset(key)
    committed = sorted(int(path.name) for path in (checkpoint / "commits").glob("[0-9]*"))
    assert committed[:3] == [0, 1, 2]
    assert sorted(int(p.name) for p in (checkpoint / "offsets").glob("[0-9]*"))[: len(committed)] == committed


def test_spark_reads_the_writer_from_the_option(spark: SparkSession, tmp_path: Path) -> None:
    """A class that does not exist fails the query, so the option's name is the one Spark reads."""
    spark.conf.set(CHECKPOINT_FILE_MANAGER, "org.example.NoSuchCheckpointFileManager")
    try:
        with pytest.raises(Exception, match="NoSuchCheckpointFileManager"):
            (
                spark.readStream.format("rate")
                .load()
                .writeStream.foreachBatch(lambda frame, epoch_id: None)
                .option("checkpointLocation", str(tmp_path / "checkpoint"))
                .start()
                .stop()
            )
    finally:
        spark.conf.unset(CHECKPOINT_FILE_MANAGER)
