"""The job's spark-submit command line, in one place: `python -m jobs.spark_stream.submit [spark-submit
options]` runs the job by hand; the integration tests and `make bench-stream` start it the same way.

Only the Kafka source and its own dependencies are passed with --jars: the other jars Maven resolved next
to them (hadoop-client, lz4, snappy, ...) are already in pyspark's jars/.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPLICATION = ROOT / "jobs" / "spark_stream" / "main.py"
KAFKA_SOURCE_JARS = ("spark-sql-kafka", "spark-token-provider", "kafka-clients", "commons-pool2")


def kafka_source_jars(jars_dir: Path = ROOT / "var" / "lib" / "spark-kafka") -> list[Path]:
    """The Kafka source's jars; raises FileNotFoundError naming the missing one (run `make jars`)."""
    jars = []
    for prefix in KAFKA_SOURCE_JARS:
        found = sorted(jars_dir.glob(f"{prefix}*.jar"))
        if not found:
            raise FileNotFoundError(f"no {prefix}*.jar in {jars_dir}; run `make jars`")
        jars.append(found[-1])
    return jars


def command(options: Sequence[str] = (), master: str = "local[*]", driver_memory: str = "1g") -> list[str]:
    venv_bin = Path(sys.executable).parent
    jars = ",".join(str(jar) for jar in kafka_source_jars())
    return [
        str(venv_bin / "spark-submit"),
        "--master",
        master,
        "--driver-memory",
        driver_memory,
        "--jars",
        jars,
        *options,
        str(APPLICATION),
    ]


def environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this process's environment) plus what the driver and Python workers need."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    env["PYSPARK_PYTHON"] = sys.executable
    return env


if __name__ == "__main__":
    argv = command(sys.argv[1:])
    os.execve(argv[0], argv, environment())
