"""Typed configuration of the streaming job, read once from the environment (and `.env`) at start-up.

Validated before Spark or any client starts. The Kafka and Cassandra connection variables are the shared
mixins' (`services.kafka_options`, `services.cassandra_session`); the job's own knobs are `SPARK_STREAM_*`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from jobs.spark_stream.bar_book import DEFAULT_MAX_TRADES
from jobs.spark_stream.cassandra_writer import CassandraTarget
from services import contracts, layout
from services.cassandra_session import CassandraClientSettings
from services.kafka_options import KafkaClientSettings

CHECKPOINT_VARIABLE = "SPARK_STREAM_CHECKPOINT_LOCATION"
DEFAULT_CHECKPOINT_LOCATION = str(layout.checkpoint_dir())
STARTING_OFFSET_KEYWORDS = ("earliest", "latest")
UNIX_MS = re.compile(r"[0-9]{1,15}")


class StreamSettings(KafkaClientSettings, CassandraClientSettings):
    """Every knob of the job. Names shared with other parts keep their spelling (no prefix): the
    connection variables (KAFKA_BOOTSTRAP_SERVERS, CASSANDRA_*), SPARK_MASTER and SPARK_METRICS_PORT."""

    # `.env` in the working directory, as before: spark-submit by hand from the checkout then reads the same
    # file as the local runtime. The environment wins over it.
    model_config = SettingsConfigDict(env_file=".env")

    # --- Kafka source (the connection: KafkaClientSettings) ---
    topic: str = Field(default=contracts.TRADES_TOPIC, min_length=1, validation_alias="SPARK_STREAM_TOPIC")
    starting_offsets: str = Field(default="earliest", validation_alias="SPARK_STREAM_STARTING_OFFSETS")
    """`earliest`, `latest` or a Unix time in ms (the first record at or after it). Only used when the
    checkpoint is empty; afterwards the checkpoint decides where to resume."""
    max_offsets_per_trigger: int = Field(
        default=120_000, gt=0, validation_alias="SPARK_STREAM_MAX_OFFSETS_PER_TRIGGER"
    )
    """Records per batch at most: a catch-up's batch size. A batch costs ~0.3 s of Spark's own besides its
    rows, so big batches catch up faster (one `make bench-stream` round each: 16,502 trades/s at 60,000,
    19,758 at 120,000); with batches of 120,000 the driver's Python peaked at 378 MB RSS."""
    fail_on_data_loss: bool = Field(default=True, validation_alias="SPARK_STREAM_FAIL_ON_DATA_LOSS")

    # --- Spark ---
    master: str | None = Field(default=None, validation_alias="SPARK_MASTER")
    """Unset: spark-submit's `--master`, which itself defaults to `local[*]`."""
    checkpoint_location: str = Field(
        default=DEFAULT_CHECKPOINT_LOCATION,
        min_length=1,
        validation_alias=CHECKPOINT_VARIABLE,
    )
    trigger_seconds: float = Field(default=0.25, ge=0, validation_alias="SPARK_STREAM_TRIGGER_SECONDS")
    """Micro-batch interval. A batch takes about 0.35 s at 1,000 trades/s, so under load the next starts as
    soon as one ends; the interval only spaces the checks for new records while Kafka is idle (0 would ask
    Kafka for its offsets every 10 ms)."""
    watermark_seconds: float = Field(default=10.0, ge=0, validation_alias="SPARK_STREAM_WATERMARK_SECONDS")
    """A trade older than (max trade time seen so far - this) counts as late; still stored and aggregated."""
    shuffle_partitions: int = Field(default=4, gt=0, validation_alias="SPARK_STREAM_SHUFFLE_PARTITIONS")

    # --- Cassandra sink (the connection: CassandraClientSettings) ---
    cassandra_keyspace: str = Field(
        default=contracts.KEYSPACE, min_length=1, validation_alias="CASSANDRA_KEYSPACE"
    )
    write_concurrency: int = Field(
        default=64, gt=0, le=2048, validation_alias="SPARK_STREAM_WRITE_CONCURRENCY"
    )
    write_attempts: int = Field(default=3, gt=0, le=20, validation_alias="SPARK_STREAM_WRITE_ATTEMPTS")
    bar_book_trades: int = Field(
        default=DEFAULT_MAX_TRADES, gt=0, validation_alias="SPARK_STREAM_BAR_BOOK_TRADES"
    )
    """Trades of recent minutes the driver holds for the bars (`bar_book`); beyond, minutes are read back."""

    # --- Observability ---
    metrics_port: int = Field(
        default=contracts.SPARK_METRICS_PORT, gt=0, lt=65536, validation_alias="SPARK_METRICS_PORT"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", validation_alias="SPARK_STREAM_LOG_LEVEL"
    )

    @field_validator("starting_offsets")
    @classmethod
    def _starting_position(cls, value: str) -> str:
        value = value.strip()
        if value in STARTING_OFFSET_KEYWORDS or UNIX_MS.fullmatch(value):
            return value
        raise ValueError("must be earliest, latest or a Unix time in milliseconds (digits only)")

    @field_validator("checkpoint_location")
    @classmethod
    def _absolute_checkpoint(cls, value: str) -> str:
        # A URI (hdfs://, s3a://, file:/) is used as given; a plain path is made absolute against the
        # working directory so that the driver and every executor agree on it.
        if "://" in value or value.startswith("file:"):
            return value
        return str(Path(os.path.expanduser(value)).resolve())

    @property
    def starting_timestamp_ms(self) -> int | None:
        """The Unix time in ms to start from, or None when starting from `earliest`/`latest`."""
        return int(self.starting_offsets) if UNIX_MS.fullmatch(self.starting_offsets) else None

    @property
    def trigger_interval(self) -> str:
        return f"{self.trigger_seconds:g} seconds"

    @property
    def watermark_ms(self) -> int:
        return round(self.watermark_seconds * 1000)

    def cassandra_target(self) -> CassandraTarget:
        return CassandraTarget(
            connection=self.cassandra_connection(),
            keyspace=self.cassandra_keyspace,
            concurrency=self.write_concurrency,
            attempts=self.write_attempts,
        )
