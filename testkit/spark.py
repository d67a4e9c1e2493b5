"""The local Spark session the unit tests share: one per test process, whichever test asks first."""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession


def unit_test_session() -> SparkSession:
    """`local[1]` with 2 shuffle partitions and default parallelism 2 (the writer tests need two tasks);
    the workers run this virtualenv's Python, which has the project installed."""
    os.environ["PYSPARK_PYTHON"] = sys.executable
    return (
        SparkSession.builder.master("local[1]")
        .appName("spark_stream-unit-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
