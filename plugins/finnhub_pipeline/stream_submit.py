"""What is submitted to run the streaming job: its entry file and the jars of Spark's Kafka source.

The stream_supervisor DAG's SparkSubmitOperator, the local runtime (which lists the jars for Airflow) and the
operations tools' spark-submit command line all read these, so the job is always started the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import jobs.spark_stream
from services import layout

APPLICATION: Final = Path(jobs.spark_stream.__file__).with_name("main.py")
"""The job's spark-submit entry point."""
APPLICATION_NAME: Final = "spark_stream"
"""spark-submit's --name: the application's name in Spark's UI and logs."""

KAFKA_SOURCE_JAR_PREFIXES: Final = (
    "spark-sql-kafka",
    "spark-token-provider",
    "kafka-clients",
    "commons-pool2",
)
"""The Kafka source and its own dependencies. The other jars Maven resolves beside them (hadoop-client, lz4,
snappy, ...) are already in pyspark's jars/ and must not be passed twice."""


def kafka_source_jars(jars_dir: Path | None = None) -> list[Path]:
    """The Kafka source's jars in `jars_dir` (default: the runtime's); raises FileNotFoundError naming the
    missing one (run `make jars`)."""
    folder = jars_dir or layout.spark_kafka_jars_dir()
    jars = []
    for prefix in KAFKA_SOURCE_JAR_PREFIXES:
        found = sorted(folder.glob(f"{prefix}*.jar"))
        if not found:
            raise FileNotFoundError(f"no {prefix}*.jar in {folder}; run `make jars`")
        jars.append(found[-1])
    return jars
