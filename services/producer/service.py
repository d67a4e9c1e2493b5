"""The producer's I/O loop: keep one Finnhub connection alive and turn every frame into Kafka records.

Connect, subscribe to this replica's symbols, read frames; on a close, an error or a silent connection
(watchdog) reconnect with full-jitter backoff and subscribe again. Kafka is polled every iteration.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import websocket

from services.producer.backoff import FullJitterBackoff
from services.producer.finnhub_ws import FinnhubConnection, ServerClosed
from services.producer.frames import FrameKind
from services.producer.kafka_sink import KafkaSink, RateLimitedLog
from services.producer.logs import log_event
from services.producer.metrics import ProducerMetrics
from services.producer.pipeline import FrameProcessor
from services.producer.recording import FrameRecorder

logger = logging.getLogger("producer.service")

Connect = Callable[[], FinnhubConnection]


class ProducerService:
    """Runs until `stop` is set; each connection lasts until it closes, fails or goes silent."""

    def __init__(
        self,
        *,
        connect: Connect,
        symbols: tuple[str, ...],
        processor: FrameProcessor,
        sink: KafkaSink,
        metrics: ProducerMetrics,
        backoff: FullJitterBackoff,
        stop: threading.Event,
        watchdog_seconds: float,
        backoff_reset_seconds: float,
        endpoint: str,
        recorder: FrameRecorder | None = None,
    ) -> None:
        self._connect = connect
        self._symbols = symbols
        self._processor = processor
        self._sink = sink
        self._metrics = metrics
        self._backoff = backoff
        self._stop = stop
        self._watchdog_seconds = watchdog_seconds
        self._backoff_reset_seconds = backoff_reset_seconds
        self._endpoint = endpoint
        self._recorder = recorder
        self._rejection_log = RateLimitedLog(kind="input_rejected")
        metrics.subscribed_symbols.set(len(symbols))

    def run(self) -> None:
        """Connect, read and reconnect until `stop` is set."""
        first_attempt = True
        while not self._stop.is_set():
            if not first_attempt:
                delay = self._backoff.next_delay()
                log_event(logger, "ws_reconnect_wait", seconds=f"{delay:.2f}", attempt=self._backoff.attempt)
                if self._stop.wait(delay):
                    break
            first_attempt = False
            reason = self._one_connection()
            if reason != "shutdown":
                self._metrics.reconnects.labels(reason=reason).inc()

    def _one_connection(self) -> str:
        """Open, subscribe and read one connection; returns why it ended."""
        try:
            connection = self._connect()
        except websocket.WebSocketBadStatusException as exc:
            log_event(
                logger, "ws_handshake_rejected", logging.ERROR, url=self._endpoint, status=exc.status_code
            )
            return f"handshake_{exc.status_code}"
        except (OSError, websocket.WebSocketException) as exc:
            log_event(logger, "ws_connect_failed", logging.WARNING, url=self._endpoint, error=_describe(exc))
            return "connect_failed"
        connected_at = time.monotonic()
        try:
            connection.subscribe(self._symbols)
            self._metrics.websocket_connected.set(1)
            log_event(logger, "ws_connected", url=self._endpoint, symbols=",".join(self._symbols))
            return self._read(connection)
        except ServerClosed as exc:
            log_event(logger, "ws_closed_by_server", logging.WARNING, url=self._endpoint, detail=str(exc))
            return "server_closed"
        except (OSError, websocket.WebSocketException) as exc:
            log_event(logger, "ws_error", logging.WARNING, url=self._endpoint, error=_describe(exc))
            return "error"
        finally:
            self._metrics.websocket_connected.set(0)
            connection.close()
            if time.monotonic() - connected_at >= self._backoff_reset_seconds:
                self._backoff.reset()

    def _read(self, connection: FinnhubConnection) -> str:
        last_frame_at = time.monotonic()
        while not self._stop.is_set():
            frame = connection.receive()
            now = time.monotonic()
            if frame is not None:
                last_frame_at = now
                self.handle_frame(frame, now)
            elif now - last_frame_at > self._watchdog_seconds:
                silent = f"{now - last_frame_at:.1f}"
                log_event(
                    logger, "ws_watchdog_timeout", logging.WARNING, url=self._endpoint, silent_seconds=silent
                )
                return "watchdog"
            self._sink.poll()
        return "shutdown"

    def handle_frame(self, frame: bytes, received_monotonic: float) -> None:
        """Record, parse, count and produce one frame."""
        received_at_ms = time.time_ns() // 1_000_000
        if self._recorder is not None:
            self._recorder.record(received_at_ms, frame)
        self._metrics.message_seen()
        processed = self._processor.process(frame, received_at_ms, received_monotonic)
        outcome = processed.outcome
        self._metrics.messages_received.labels(type=outcome.kind.value).inc()
        if outcome.kind is FrameKind.PING:
            self._metrics.pings.inc()
            return
        if outcome.kind is FrameKind.ERROR:
            message = outcome.server_error or ""
            self._metrics.server_errors.labels(message=self._metrics.server_error_label(message)).inc()
            log_event(logger, "finnhub_server_error", logging.WARNING, message=message[:500])
            return
        if processed.duplicate:
            self._metrics.duplicates.inc()
            log_event(logger, "duplicate_frame_skipped", logging.DEBUG, digest=outcome.digest)
            return
        self._metrics.trades_received.inc(len(outcome.trades))
        for dead_letter in outcome.dead_letters:
            self._metrics.validation_errors.labels(reason=dead_letter.reason.value).inc()
            if self._rejection_log.allow():
                log_event(
                    logger,
                    "input_rejected",
                    logging.WARNING,
                    reason=dead_letter.reason.value,
                    symbol=dead_letter.symbol,
                    detail=dead_letter.detail[:300],
                )
        if processed.trade_messages:
            self._sink.send_batch(processed.trades_topic, processed.trade_messages)
        for dead_letter, record in zip(outcome.dead_letters, processed.dead_letter_records, strict=True):
            if self._sink.send(record):
                self._metrics.dead_letters.labels(reason=dead_letter.reason.value).inc()
        self._metrics.processing_latency.observe(time.monotonic() - received_monotonic)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:300]}"
