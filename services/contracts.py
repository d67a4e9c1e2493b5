"""Names and record shapes every part of the pipeline agrees on.

The producer writes these records, the Spark job reads them, the DAGs create the topics and tables they
name, and the tests check them. Change a value here, never a copy of it elsewhere.
"""

from __future__ import annotations

from typing import Final, NamedTuple

# --- Kafka -------------------------------------------------------------------------------------------
TRADES_TOPIC: Final = "trades"
"""One record per trade, keyed by symbol (UTF-8), value = a `TradeRecord` as JSON."""

DEAD_LETTER_TOPIC: Final = "trades.dead_letter"
"""Input that could not be turned into trades, with its reason; value = a `DeadLetter` as JSON."""

# --- Trade record (Kafka value), schema version 1 ------------------------------------------------------
TRADE_SCHEMA_VERSION: Final = 1


class RecordField(NamedTuple):
    """One field of a JSON record: its name, its type (Spark SQL's type name) and what it holds."""

    name: str
    type: str
    meaning: str


TRADE_RECORD: Final[tuple[RecordField, ...]] = (
    RecordField("schema_version", "int", "TRADE_SCHEMA_VERSION"),
    RecordField("trade_id", "string", "stable identity of the trade: <frame digest>-<index in frame>"),
    RecordField("symbol", "string", "Finnhub's s, e.g. AAPL or BINANCE:BTCUSDT"),
    RecordField("price", "double", "Finnhub's p, > 0"),
    RecordField("volume", "double", "Finnhub's v, >= 0 (0 is a price update and is kept)"),
    RecordField("trade_ts_ms", "bigint", "trade time, Unix epoch milliseconds (Finnhub's t)"),
    RecordField("conditions", "array<string>", "Finnhub's trade-condition codes (c); empty when absent"),
    RecordField("received_at_ms", "bigint", "when the producer received the frame, Unix epoch milliseconds"),
)
"""The trade record, fields in the order the producer writes them. The Spark job's read schema is built
from it; the producer's encoder and docs/api-reference.md are checked against it by tests."""

TRADE_FIELDS: Final = tuple(field.name for field in TRADE_RECORD)

# --- Dead-letter record (Kafka value on DEAD_LETTER_TOPIC) ---------------------------------------------
DEAD_LETTER_FIELDS: Final = (
    "source",  # str, which part rejected the input: "producer" or "spark_stream"
    "reason",  # str, a DeadLetterReason value
    "detail",  # str, human-readable context (which field, which value)
    "raw",  # str, the rejected payload (UTF-8, invalid bytes replaced) or its first MAX_RAW_CHARS
    "received_at_ms",  # int, when the rejecting part saw it
)
MAX_RAW_CHARS: Final = 65_536

# --- Cassandra ----------------------------------------------------------------------------------------
KEYSPACE: Final = "trading"
TRADES_TABLE: Final = "trades_v2"
AGGREGATES_TABLE: Final = "trade_aggregates"
DEAD_LETTER_TABLE: Final = "dead_letters"
MIGRATIONS_TABLE: Final = "schema_migrations"
TRADES_TTL_SECONDS: Final = 30 * 24 * 3600
AGGREGATES_TTL_SECONDS: Final = 90 * 24 * 3600
DEAD_LETTER_TTL_SECONDS: Final = 14 * 24 * 3600

# --- Metric names (Prometheus) ------------------------------------------------------------------------
# Producer (port 8000). The first four are the seed README's names.
MESSAGES_RECEIVED: Final = "finnhub_messages_received_total"
KAFKA_MESSAGES_SENT: Final = "kafka_messages_sent_total"
WEBSOCKET_CONNECTED: Final = "websocket_connected"
PROCESSING_LATENCY: Final = "message_processing_latency_seconds"

# Spark job (port SPARK_METRICS_PORT). The Airflow health sensor reads the last three.
SPARK_RECORDS_READ: Final = "spark_stream_records_read_total"
SPARK_INPUT_ROWS_PER_SECOND: Final = "spark_stream_input_rows_per_second"
SPARK_PROCESSED_ROWS_PER_SECOND: Final = "spark_stream_processed_rows_per_second"
SPARK_BATCH_DURATION: Final = "spark_stream_batch_duration_seconds"
SPARK_END_TO_END_LATENCY: Final = "spark_stream_end_to_end_latency_seconds"
SPARK_ROWS_WRITTEN: Final = "spark_stream_rows_written_total"
SPARK_LATE_TRADES: Final = "spark_stream_late_trades_total"
SPARK_DEAD_LETTERS: Final = "spark_stream_dead_letters_total"
SPARK_WRITE_FAILURES: Final = "spark_stream_write_failures_total"
SPARK_LAST_BATCH_COMPLETED: Final = "spark_stream_last_batch_completed_timestamp_seconds"
SPARK_KAFKA_OFFSETS_BEHIND: Final = "spark_stream_kafka_offsets_behind"
SPARK_QUERY_ACTIVE: Final = "spark_stream_query_active"
SPARK_BATCH_STEP: Final = "spark_stream_batch_step_seconds"

# --- Ports of the pipeline's own services (defaults; each is a setting) ---------------------------------
PRODUCER_METRICS_PORT: Final = 8000
SPARK_METRICS_PORT: Final = 8001
SIMULATOR_PORT: Final = 8765
