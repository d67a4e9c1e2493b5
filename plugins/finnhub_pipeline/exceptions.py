"""Named failures of the pipeline's Airflow tasks, so a failed run says what went wrong in its title.

Every operator and hook raises a subclass of `PipelineOperationError`; the message carries the context
(which topic, table, file, setting) and, for checks, the full readable difference.
"""

from __future__ import annotations


class PipelineOperationError(Exception):
    """Base class of every failure raised by the finnhub_pipeline plugin."""


class TopicConfigError(PipelineOperationError):
    """A Kafka topic exists with settings that cannot be changed safely (fewer partitions, other RF)."""


class MigrationChecksumError(PipelineOperationError):
    """An already-applied CQL migration file was changed, or a recorded migration file is missing."""


class MigrationError(PipelineOperationError):
    """A CQL migration could not be read, rendered or applied."""


class SchemaDriftError(PipelineOperationError):
    """The live Cassandra schema differs from what the pipeline expects."""


class NodetoolError(PipelineOperationError):
    """A nodetool command failed or printed output that could not be understood."""


class BackupError(PipelineOperationError):
    """Taking a backup failed (no snapshot files found, copy failed)."""


class BackupVerificationError(BackupError):
    """A backup's files do not match its SHA-256 manifest, or the manifest is missing."""


class RestoreError(PipelineOperationError):
    """Restoring a backup failed (bad target keyspace, import failed)."""


class TtlViolationError(PipelineOperationError):
    """A table's TTL or sampled rows break the retention policy."""


class ReconciliationRangeError(PipelineOperationError, ValueError):
    """The reconciliation's requested time range is malformed (not ISO-8601 UTC, reversed, in the future)."""


class ReconciliationMismatchError(PipelineOperationError):
    """Kafka, `trades_v2` and `trade_aggregates` disagree; the message names each symbol and hour."""


class StreamBehindError(PipelineOperationError):
    """The stream job has not yet written the Kafka records a reconciliation checks (it is down or behind)."""


class KafkaReadError(PipelineOperationError):
    """Reading a range of a topic's records failed or stalled; the message names topic and partition."""
