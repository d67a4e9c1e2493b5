"""Every Airflow Variable the pipeline reads, with its default: the one place their names live.

DAG files use `Variable.template` (rendered at run time, never read at parse time); the local runtime sets
some from `.env` through `Variable.environment_variable` (`AIRFLOW_VAR_<KEY>`); the operations tools set
others through Airflow's REST API. No module here imports Airflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from services import contracts, layout


@dataclass(frozen=True)
class Variable:
    key: str
    default: str
    description: str

    @property
    def template(self) -> str:
        """A Jinja template giving the Variable's value at run time, or its default when it is unset."""
        return "{{ var.value.get(%r, %r) }}" % (self.key, self.default)  # noqa: UP031 - Jinja braces

    @property
    def environment_variable(self) -> str:
        """The environment variable through which Airflow also reads the Variable (it wins over none)."""
        return f"AIRFLOW_VAR_{self.key.upper()}"


# --- stream_supervisor: the Spark job ------------------------------------------------------------------
SPARK_JARS: Final = Variable(
    "spark_jars", "", "Comma-separated jars of Spark's Kafka source (make up sets it)"
)
SPARK_CHECKPOINT_DIR: Final = Variable(
    "spark_checkpoint_dir", str(layout.checkpoint_dir()), "The streaming query's checkpoint folder"
)
SPARK_EXECUTOR_MEMORY: Final = Variable("spark_executor_memory", "1g", "Memory of each Spark executor")
SPARK_DRIVER_MEMORY: Final = Variable("spark_driver_memory", "1g", "Memory of the Spark driver")
SPARK_METRICS_PORT: Final = Variable(
    "spark_metrics_port", str(contracts.SPARK_METRICS_PORT), "Port of the job's Prometheus metrics"
)
SPARK_STALL_MINUTES: Final = Variable(
    "spark_stream_stall_minutes", "10", "No batch for this long while the lag grows: the job is stuck"
)
SPARK_SECRETS_DIR: Final = Variable(
    "spark_secrets_dir",
    str(layout.secret_folder("spark")),
    "The job's PIPELINE_SECRETS_DIR: its Kafka and Cassandra principal's settings and passwords as 0600 "
    "files (empty: plaintext)",
)
SPARK_STARTING_OFFSETS: Final = Variable(
    "spark_starting_offsets",
    "earliest",
    "Where the Spark job starts when its checkpoint is empty: earliest, latest or a Unix time in ms "
    "(set by make reset-checkpoint)",
)

# --- pipeline_bootstrap: Kafka topics ------------------------------------------------------------------
KAFKA_TRADES_PARTITIONS: Final = Variable("kafka_trades_partitions", "3", "Partitions of the trades topic")
KAFKA_TRADES_RETENTION_MS: Final = Variable(
    "kafka_trades_retention_ms", str(7 * 24 * 3600 * 1000), "retention.ms of the trades topic (7 days)"
)
KAFKA_DEAD_LETTER_PARTITIONS: Final = Variable(
    "kafka_dead_letter_partitions", "1", "Partitions of the dead-letter topic"
)
KAFKA_DEAD_LETTER_RETENTION_MS: Final = Variable(
    "kafka_dead_letter_retention_ms",
    str(contracts.DEAD_LETTER_TTL_SECONDS * 1000),
    "retention.ms of the dead-letter topic (as long as the dead_letters table keeps rows)",
)
KAFKA_COMPRESSION_TYPE: Final = Variable(
    "kafka_compression_type", "producer", "compression.type of the topics (producer: keep the producer's)"
)
KAFKA_MIN_INSYNC_REPLICAS: Final = Variable(
    "kafka_min_insync_replicas", "", "min.insync.replicas of the topics (empty: replication factor - 1, >= 1)"
)

# --- maintenance ---------------------------------------------------------------------------------------
CASSANDRA_BACKUP_KEEP: Final = Variable("cassandra_backup_keep", "7", "Backups kept by cassandra_backup")
TTL_AUDIT_SAMPLE_SIZE: Final = Variable("ttl_audit_sample_size", "1000", "Rows per table ttl_audit samples")
RECONCILIATION_LATE_GRACE_MINUTES: Final = Variable(
    "reconciliation_late_grace_minutes",
    "10",
    "Trades reaching Kafka up to this long after their hour count as its trades (reconciliation)",
)
RECONCILIATION_STREAM_WAIT_MINUTES: Final = Variable(
    "reconciliation_stream_wait_minutes",
    "15",
    "How long reconciliation waits for the stream job to write the records it checks",
)

ALL: Final = tuple(value for value in list(globals().values()) if isinstance(value, Variable))
