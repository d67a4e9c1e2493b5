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


def driver_java_options(driver_memory: str) -> str:
    """The driver JVM's options beside spark-submit's `-Xmx` (`--driver-memory`, `spark.driver.memory`): its
    heap starts at its full size (`-Xms`) and is touched at start-up (`-XX:+AlwaysPreTouch`), as Kafka's and
    Cassandra's heaps are sized here.

    Left to grow, G1 started the heap at a third of the maximum and grew it under load, about 100 MiB at a
    time, for the first quarter of an hour at 1,000 trades/s, then shrank it again: the job's memory was a
    moving figure (`make soak`: +18.7 % from minute 5 to 10 of a 10-minute run, +24 % at minute 12 of a
    30-minute one), so neither a leak nor the job's real footprint could be read from it. Sized at start, the
    job holds what it may use from its first batch, and a growth is a real one. Touching 1 GiB costs a
    fraction of a second once, at start-up."""
    return f"-Xms{driver_memory} -XX:+AlwaysPreTouch"


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
