"""The streaming job's spark-submit command line outside Airflow: `python -m stack.submit [spark-submit
options]` runs the job by hand; the integration tests and `make bench-stream` start it the same way.

The entry file and the Kafka source's jars are the ones stream_supervisor submits
(`finnhub_pipeline.stream_submit`). The project is installed into the virtualenv, so the driver and the
Python workers import the pipeline's packages as long as they run its Python (PYSPARK_PYTHON).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from finnhub_pipeline.stream_submit import (
    APPLICATION,
    APPLICATION_NAME,
    driver_java_options,
    kafka_source_jars,
)


def command(
    options: Sequence[str] = (),
    master: str = "local[*]",
    driver_memory: str = "1g",
    jars_dir: Path | None = None,
) -> list[str]:
    """spark-submit of the job with `options` before its entry file; jars from `jars_dir` (default: the
    runtime's); raises FileNotFoundError naming a missing jar (run `make jars`)."""
    venv_bin = Path(sys.executable).parent
    jars = ",".join(str(jar) for jar in kafka_source_jars(jars_dir))
    return [
        str(venv_bin / "spark-submit"),
        "--master",
        master,
        "--driver-memory",
        driver_memory,
        "--driver-java-options",
        driver_java_options(driver_memory),
        "--name",
        APPLICATION_NAME,
        "--jars",
        jars,
        *options,
        str(APPLICATION),
    ]


def environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this process's environment) with the driver and the workers on this Python."""
    env = dict(os.environ if base is None else base)
    env["PYSPARK_PYTHON"] = sys.executable
    return env


if __name__ == "__main__":
    argv = command(sys.argv[1:])
    os.execve(argv[0], argv, environment())
