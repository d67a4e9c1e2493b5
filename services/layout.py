"""Where the pipeline keeps its files on a machine: the checkout and the runtime state folder (`var/`).

All runtime state (data, logs, checkpoints, backups, downloaded jars) lives under one folder, `VAR_DIR` in
`.env` (default `var/` in the checkout). Every path inside it is derived here, so the local runtime, the
Airflow DAGs, the Spark job and the operations tools name the same folders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[1]
"""The checkout (the project is installed editable: the packages are read from here)."""
DEFAULT_VAR_DIR: Final = ROOT / "var"


def checkpoint_dir(var_dir: Path = DEFAULT_VAR_DIR) -> Path:
    """The Spark streaming query's checkpoint, which Airflow's stream_supervisor passes to the job."""
    return var_dir / "checkpoints" / "spark_stream"


def local_checkpoint_folder(checkpoint_location: str) -> Path | None:
    """The folder of a checkpoint on the local disk: a plain path, or a `file:` URI; None for a URI of
    another file system (hdfs://, s3a://). The job writes a local one through Hadoop's `FileSystem`
    (`jobs.spark_stream.main.checkpoint_options`); the tools read a local one (`stream_checkpoint`)."""
    if checkpoint_location.startswith("file:"):
        return Path(checkpoint_location.removeprefix("file://").removeprefix("file:"))
    if "://" in checkpoint_location:
        return None
    return Path(checkpoint_location)


def spark_kafka_jars_dir(var_dir: Path = DEFAULT_VAR_DIR) -> Path:
    """The Spark Kafka source and its dependencies, resolved from Maven Central by `make jars`."""
    return var_dir / "lib" / "spark-kafka"


def backup_dir(var_dir: Path = DEFAULT_VAR_DIR) -> Path:
    """Cassandra backups, one folder per backup (`make restore BACKUP=...`)."""
    return var_dir / "backups"


def log_dir(var_dir: Path = DEFAULT_VAR_DIR) -> Path:
    return var_dir / "log"


def program_log(program: str, var_dir: Path = DEFAULT_VAR_DIR) -> Path:
    """The file supervisord writes a program's output to (render.py's `stdout_logfile`)."""
    return log_dir(var_dir) / f"{program}.log"


def secrets_dir(var_dir: Path = DEFAULT_VAR_DIR) -> Path:
    """The secured runtime's certificates and passwords (0700; ENABLE_SSL=true)."""
    return var_dir / "secrets"


def secret_folder(program: str, var_dir: Path = DEFAULT_VAR_DIR) -> Path:
    """A program's PIPELINE_SECRETS_DIR: one 0600 file per connection setting (empty in plaintext mode)."""
    return secrets_dir(var_dir) / program
