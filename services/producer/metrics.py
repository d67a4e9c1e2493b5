"""The producer's Prometheus metrics, registered on a CollectorRegistry the caller owns.

METRIC_NAMES is the table of every name the producer exports (docs, dashboards and alert rules use these);
the first four are the seed's names and live in services/contracts.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services import contracts

METRIC_NAMES: Final[dict[str, str]] = {
    "messages_received": contracts.MESSAGES_RECEIVED,  # counter {type}: frames by kind
    "kafka_messages_sent": contracts.KAFKA_MESSAGES_SENT,  # counter {topic}: deliveries Kafka confirmed
    "websocket_connected": contracts.WEBSOCKET_CONNECTED,  # gauge: 1 while connected and subscribed
    "processing_latency": contracts.PROCESSING_LATENCY,  # histogram: frame received -> handed to Kafka
    "trades_received": "finnhub_trades_received_total",  # counter: valid trades parsed
    "validation_errors": "producer_validation_errors_total",  # counter {reason}
    "dead_letters": "producer_dead_letters_total",  # counter {reason}: records sent to the dead-letter topic
    "delivery_failures": "kafka_delivery_failures_total",  # counter {topic}: records Kafka never took
    "buffer_full": "kafka_buffer_full_total",  # counter: produce() hit the full local queue and waited
    "kafka_queue": "kafka_producer_queue_messages",  # gauge: records waiting in librdkafka's queue
    "reconnects": "websocket_reconnects_total",  # counter {reason}
    "server_errors": "finnhub_server_errors_total",  # counter {message}: Finnhub "error" frames
    "duplicates": "finnhub_duplicate_frames_total",  # counter: repeated frames not produced again
    "pings": "finnhub_pings_total",  # counter: server pings
    "last_message_age": "finnhub_last_message_age_seconds",  # gauge: seconds since the last frame
    "subscribed_symbols": "finnhub_subscribed_symbols",  # gauge: symbols this replica subscribes to
}

LATENCY_BUCKETS: Final = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
MAX_SERVER_ERROR_LABELS: Final = 20
"""Distinct server error messages kept as label values; further ones count as "other" (cardinality)."""


class ProducerMetrics:
    """Every producer metric, on one registry (a fresh one per test)."""

    def __init__(self, registry: CollectorRegistry, clock: Callable[[], float] = time.monotonic) -> None:
        self.registry = registry
        self._clock = clock
        self._last_message_at = clock()
        self._server_error_labels: set[str] = set()
        names = METRIC_NAMES
        self.messages_received = Counter(
            names["messages_received"], "Finnhub frames received, by kind.", ["type"], registry=registry
        )
        self.kafka_messages_sent = Counter(
            names["kafka_messages_sent"],
            "Records Kafka acknowledged, by topic.",
            ["topic"],
            registry=registry,
        )
        self.websocket_connected = Gauge(
            names["websocket_connected"], "1 while connected and subscribed to Finnhub.", registry=registry
        )
        self.processing_latency = Histogram(
            names["processing_latency"],
            "Seconds from a frame's arrival to its records being handed to Kafka.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.trades_received = Counter(names["trades_received"], "Valid trades parsed.", registry=registry)
        self.validation_errors = Counter(
            names["validation_errors"], "Rejected frames or trades, by reason.", ["reason"], registry=registry
        )
        self.dead_letters = Counter(
            names["dead_letters"],
            "Dead-letter records handed to Kafka, by reason.",
            ["reason"],
            registry=registry,
        )
        self.delivery_failures = Counter(
            names["delivery_failures"],
            "Records Kafka finally did not take, by topic.",
            ["topic"],
            registry=registry,
        )
        self.buffer_full = Counter(
            names["buffer_full"], "Times produce() found the local queue full and waited.", registry=registry
        )
        self.kafka_queue = Gauge(
            names["kafka_queue"], "Records waiting in the Kafka client's local queue.", registry=registry
        )
        self.reconnects = Counter(
            names["reconnects"], "WebSocket reconnects, by reason.", ["reason"], registry=registry
        )
        self.server_errors = Counter(
            names["server_errors"], "Finnhub error messages, by message.", ["message"], registry=registry
        )
        self.duplicates = Counter(
            names["duplicates"],
            "Trade frames identical to a recent one, not produced again.",
            registry=registry,
        )
        self.pings = Counter(names["pings"], "Finnhub ping messages.", registry=registry)
        self.last_message_age = Gauge(
            names["last_message_age"],
            "Seconds since the last Finnhub frame (trade, ping or other).",
            registry=registry,
        )
        self.last_message_age.set_function(lambda: self._clock() - self._last_message_at)
        self.subscribed_symbols = Gauge(
            names["subscribed_symbols"], "Symbols this replica subscribes to.", registry=registry
        )

    def message_seen(self) -> None:
        """Restart the last-message age (every frame, of any kind)."""
        self._last_message_at = self._clock()

    def server_error_label(self, message: str) -> str:
        """The label value for a server error message: itself (cut short) while few, else "other"."""
        label = message[:100]
        if label in self._server_error_labels:
            return label
        if len(self._server_error_labels) >= MAX_SERVER_ERROR_LABELS:
            return "other"
        self._server_error_labels.add(label)
        return label
