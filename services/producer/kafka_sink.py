"""Hand records to Kafka without losing any quietly: client configuration, back-pressure, delivery reports.

Every record gets the delivery callback, which counts what Kafka acknowledged and what it finally refused.
When the client's bounded local queue is full, `send` polls and retries instead of dropping.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException

from services.producer.logs import log_event, logfmt_value
from services.producer.metrics import ProducerMetrics
from services.producer.records import KafkaRecord
from services.producer.settings import ProducerSettings

logger = logging.getLogger("producer.kafka")


class ProducerLike(Protocol):
    """The part of confluent_kafka.Producer the sink uses (tests pass a fake)."""

    def produce(
        self, topic: str, value: bytes, key: bytes | None, *, on_delivery: Callable[..., None]
    ) -> None: ...
    def produce_batch(
        self, topic: str, messages: list[dict[str, Any]], *, on_delivery: Callable[..., None]
    ) -> int: ...
    def poll(self, timeout: float) -> int: ...
    def flush(self, timeout: float) -> int: ...
    def purge(self) -> None: ...
    def __len__(self) -> int: ...


def producer_config(settings: ProducerSettings) -> dict[str, Any]:
    """librdkafka settings: the shared connection options, then the producer's own tuning: no loss, no
    duplicates from retries, batched and compressed, bounded memory."""
    return settings.kafka_connection().client_options(
        {
            "client.id": f"finnhub-producer-{settings.producer_replica_index}",
            "acks": "all",
            "enable.idempotence": True,
            "compression.type": settings.producer_kafka_compression,
            "linger.ms": settings.producer_kafka_linger_ms,
            "batch.size": settings.producer_kafka_batch_size,
            # How long a record may wait for a broker (outage included) before it counts as failed.
            "delivery.timeout.ms": settings.producer_kafka_delivery_timeout_ms,
            "queue.buffering.max.messages": settings.producer_buffer_max_messages,
            "queue.buffering.max.kbytes": settings.producer_buffer_max_kbytes,
        }
    )


class RateLimitedLog:
    """Log at most `per_second` events of one kind a second; report how many were held back."""

    def __init__(
        self, per_second: int = 10, kind: str = "event", clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_second = per_second
        self.kind = kind
        self._clock = clock
        self._window_start = clock()
        self._logged = 0
        self.suppressed = 0

    def allow(self) -> bool:
        now = self._clock()
        if now - self._window_start >= 1.0:
            self.flush()
            self._window_start, self._logged = now, 0
        if self._logged < self.per_second:
            self._logged += 1
            return True
        self.suppressed += 1
        return False

    def flush(self) -> None:
        """Log how many lines were held back since the last report, if any."""
        if self.suppressed:
            log_event(logger, "log_lines_suppressed", logging.WARNING, kind=self.kind, count=self.suppressed)
            self.suppressed = 0


class LibrdkafkaLogFilter(logging.Filter):
    """Rewrites librdkafka's own log lines as key=value events, at most one a second."""

    def __init__(self) -> None:
        super().__init__()
        self._limit = RateLimitedLog(per_second=1, kind="librdkafka")

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._limit.allow():
            return False
        record.msg, record.args = f"event=librdkafka_log message={logfmt_value(record.getMessage())}", None
        return True


class KafkaSink:
    """Produce records with a delivery callback; wait (polling) while the local queue is full."""

    def __init__(
        self,
        producer: ProducerLike,
        metrics: ProducerMetrics,
        stop: threading.Event,
        full_queue_wait_seconds: float = 0.1,
    ) -> None:
        self._producer = producer
        self._metrics = metrics
        self._stop = stop
        self._wait = full_queue_wait_seconds
        self._failure_log = RateLimitedLog(kind="kafka_delivery_failed")
        # Per topic: a delivery callback that only counts, and the acknowledgements not yet added to the
        # metric. A plain integer per record, added to Prometheus once per poll, keeps the callback cheap.
        self._on_delivery: dict[str, Callable[[Any, Any], None]] = {}
        self._acked: dict[str, list[int]] = {}

    def send(self, record: KafkaRecord) -> bool:
        """Queue `record`; False only when shutdown began while the queue stayed full (counted, logged)."""
        waited = False
        while True:
            try:
                on_delivery = self._on_delivery.get(record.topic) or self._delivery_callback(record.topic)
                self._producer.produce(record.topic, record.value, record.key, on_delivery=on_delivery)
                return True
            except BufferError:
                if not waited:
                    self._note_queue_full(record.topic, record.symbol)
                    waited = True
                if self._stop.is_set():
                    self._count_failure(
                        record.topic, record.symbol, "shutdown while the local queue was full"
                    )
                    return False
                self._producer.poll(self._wait)

    def send_batch(self, topic: str, messages: list[dict[str, Any]]) -> int:
        """Queue `messages` (produce_batch's {"key", "value"} dicts) in order; returns how many were queued.

        Fewer than all only when shutdown began while the queue stayed full: the rest are counted as failed.
        One produce_batch call per frame instead of one produce() per record; librdkafka refuses every
        message after the first one that finds the queue full, so retrying from that one keeps the order.
        """
        on_delivery = self._on_delivery.get(topic) or self._delivery_callback(topic)
        pending, queued, waited = messages, 0, False
        while pending:
            accepted = self._producer.produce_batch(topic, pending, on_delivery=on_delivery)
            queued += accepted
            if accepted == len(pending):
                break
            first_refused = next((i for i, message in enumerate(pending) if "_error" in message), None)
            if first_refused is None:
                raise RuntimeError(f"produce_batch to {topic} queued {accepted} of {len(pending)} records")
            error = pending[first_refused]["_error"]
            if error.code() != KafkaError._QUEUE_FULL:
                # What produce() raises for such an error (a fatal client state, an unknown topic): the
                # service stops and its supervisor restarts it, as before batching.
                raise KafkaException(error)
            pending = pending[first_refused:]
            for message in pending:
                message.pop("_error", None)
            if not waited:
                self._note_queue_full(topic, _symbol(pending[0].get("key")))
                waited = True
            if self._stop.is_set():
                for message in pending:
                    self._count_failure(
                        topic, _symbol(message.get("key")), "shutdown while the local queue was full"
                    )
                break
            self._producer.poll(self._wait)
        return queued

    def _note_queue_full(self, topic: str, symbol: str | None) -> None:
        """Count and log a full local queue, once per record or frame that waits for room."""
        self._metrics.buffer_full.inc()
        log_event(
            logger,
            "kafka_queue_full",
            logging.WARNING,
            topic=topic,
            symbol=symbol,
            queued=len(self._producer),
        )

    def _delivery_callback(self, topic: str) -> Callable[[Any, Any], None]:
        acked = self._acked[topic] = [0]

        def on_delivery(err: Any, msg: Any) -> None:
            if err is None:
                acked[0] += 1
            else:
                self._count_failure(msg.topic() or topic, _symbol(msg.key()), str(err))

        self._on_delivery[topic] = on_delivery
        return on_delivery

    def _publish_acks(self) -> None:
        for topic, acked in self._acked.items():
            if acked[0]:
                self._metrics.kafka_messages_sent.labels(topic=topic).inc(acked[0])
                acked[0] = 0

    def poll(self) -> None:
        """Serve delivery callbacks without blocking; refresh the queue gauge."""
        self._producer.poll(0)
        self._publish_acks()
        self._metrics.kafka_queue.set(len(self._producer))

    def close(self, timeout_seconds: float) -> int:
        """Flush for at most `timeout_seconds`, then purge and count what is left; returns that count."""
        left = self._producer.flush(timeout_seconds)
        self._publish_acks()
        if left:
            self._producer.purge()
            self._producer.flush(0)  # fires the purged records' callbacks, which count them as failed
            self._failure_log.flush()
            log_event(logger, "kafka_undelivered_at_shutdown", logging.ERROR, count=left)
        self._metrics.kafka_queue.set(len(self._producer))
        return left

    def _count_failure(self, topic: str, symbol: str | None, error: str) -> None:
        self._metrics.delivery_failures.labels(topic=topic).inc()
        if self._failure_log.allow():
            log_event(logger, "kafka_delivery_failed", logging.ERROR, topic=topic, symbol=symbol, error=error)


def _symbol(key: bytes | None) -> str | None:
    """The symbol a record is keyed by, for logs (None for a dead letter of a whole frame)."""
    return key.decode("utf-8", errors="replace") if key else None
