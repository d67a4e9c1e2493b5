"""Names and record shapes every part of the pipeline agrees on.

The producer writes these records, the Spark job reads them, the DAGs create the topics and tables they
name, and the tests check them. Change a value here, never a copy of it elsewhere.
"""

from __future__ import annotations

from typing import Final

# --- Kafka -------------------------------------------------------------------------------------------
TRADES_TOPIC: Final = "trades"
"""One record per trade, keyed by symbol (UTF-8), value = a `TradeRecord` as JSON."""

DEAD_LETTER_TOPIC: Final = "trades.dead_letter"
"""Input that could not be turned into trades, with its reason; value = a `DeadLetter` as JSON."""

# --- Trade record (Kafka value), schema version 1 ------------------------------------------------------
TRADE_SCHEMA_VERSION: Final = 1

TRADE_FIELDS: Final = (
    "schema_version",  # int, TRADE_SCHEMA_VERSION
    "trade_id",  # str, stable identity of the trade: "<frame digest>-<index in frame>"
    "symbol",  # str, e.g. "AAPL", "BINANCE:BTCUSDT"
    "price",  # float, > 0
    "volume",  # float, >= 0 (0 marks a price update and is kept)
    "trade_ts_ms",  # int, trade time, Unix epoch milliseconds (Finnhub's "t")
    "conditions",  # list[str], Finnhub's trade-condition codes ("c"); empty when absent
    "received_at_ms",  # int, when the producer received the frame, Unix epoch milliseconds
)

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

# --- Metric names (Prometheus) ------------------------------------------------------------------------
# Producer (port 8000). The first four are the seed README's names.
MESSAGES_RECEIVED: Final = "finnhub_messages_received_total"
KAFKA_MESSAGES_SENT: Final = "kafka_messages_sent_total"
WEBSOCKET_CONNECTED: Final = "websocket_connected"
PROCESSING_LATENCY: Final = "message_processing_latency_seconds"
