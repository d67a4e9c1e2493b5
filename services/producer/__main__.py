"""Entry point of the producer service: `python -m services.producer`.

Reads the settings (exit 2 on a bad one), serves metrics, connects Kafka and Finnhub, and runs until
SIGTERM or SIGINT, then closes the socket, flushes Kafka for a bounded time and exits 0.
"""

from __future__ import annotations

import gc
import logging
import signal
import sys
import threading
from types import FrameType

from confluent_kafka import KafkaError, Producer
from prometheus_client import CollectorRegistry, disable_created_metrics, start_http_server

from services.producer.backoff import FullJitterBackoff
from services.producer.dedupe import FrameDeduplicator
from services.producer.finnhub_ws import FinnhubConnection, connect_url, redacted_url
from services.producer.frames import ValidationRules
from services.producer.kafka_sink import KafkaSink, LibrdkafkaLogFilter, RateLimitedLog, producer_config
from services.producer.logs import configure_logging, log_event
from services.producer.metrics import ProducerMetrics
from services.producer.pipeline import FrameProcessor
from services.producer.recording import FrameRecorder
from services.producer.service import ProducerService
from services.producer.settings import ProducerSettings
from services.producer.symbols import symbol_shard

logger = logging.getLogger("producer")
RECEIVE_TIMEOUT_SECONDS = 1.0
"""How long one read may block: the loop polls Kafka, checks the watchdog and sees SIGTERM this often."""
GC_YOUNG_THRESHOLD = 50_000
"""Allocations between two young-generation collections (CPython's default: 700). A frame of 1,000 trades
allocates a few thousand short-lived, acyclic objects (freed by reference counting); at the default the
collector ran several times a frame and took about a fifth of the loop's CPU. Memory held by cyclic garbage
stays bounded by this count."""


def main() -> int:
    settings = ProducerSettings.load_or_exit("producer")
    api_key = settings.finnhub_api_key.get_secret_value() if settings.finnhub_api_key else None
    configure_logging(settings.producer_log_level, secrets=[api_key] if api_key else [])
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log_event(logger, "shutdown_requested", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    symbols = symbol_shard(settings.symbols, settings.producer_replica_index, settings.producer_replica_count)
    endpoint = redacted_url(settings.ws_url, api_key)
    disable_created_metrics()  # the *_created series only double the scrape size
    registry = CollectorRegistry()
    metrics = ProducerMetrics(registry)
    start_http_server(settings.producer_metrics_port, settings.producer_metrics_host, registry=registry)

    kafka_errors = RateLimitedLog(per_second=1, kind="kafka_client_error")
    librdkafka_logger = logging.getLogger("producer.librdkafka")
    librdkafka_logger.addFilter(LibrdkafkaLogFilter())

    def on_kafka_error(error: KafkaError) -> None:
        if kafka_errors.allow():
            log_event(logger, "kafka_client_error", logging.WARNING, error=str(error), fatal=error.fatal())

    config = producer_config(settings) | {
        "error_cb": on_kafka_error,
        "logger": librdkafka_logger,
    }
    sink = KafkaSink(Producer(config), metrics, stop)
    rules = ValidationRules(
        symbols=frozenset(symbols),
        max_frame_bytes=settings.producer_max_frame_bytes,
        max_future_ms=int(settings.producer_trade_max_future_seconds * 1000),
        max_age_ms=int(settings.producer_trade_max_age_seconds * 1000),
    )
    deduplicator = FrameDeduplicator(
        settings.producer_dedupe_window_seconds, settings.producer_dedupe_max_frames
    )
    processor = FrameProcessor(rules, deduplicator, settings.trades_topic, settings.dead_letter_topic)
    recorder = FrameRecorder(settings.producer_record_file) if settings.producer_record_file else None
    url = connect_url(settings.ws_url, api_key)
    service = ProducerService(
        connect=lambda: FinnhubConnection(
            url, settings.producer_connect_timeout_seconds, RECEIVE_TIMEOUT_SECONDS
        ),
        symbols=symbols,
        processor=processor,
        sink=sink,
        metrics=metrics,
        backoff=FullJitterBackoff(
            settings.producer_backoff_initial_seconds, settings.producer_backoff_max_seconds
        ),
        stop=stop,
        watchdog_seconds=settings.producer_watchdog_seconds,
        backoff_reset_seconds=settings.producer_backoff_reset_seconds,
        endpoint=endpoint,
        recorder=recorder,
    )
    log_event(
        logger,
        "producer_started",
        url=endpoint,
        replica=f"{settings.producer_replica_index}/{settings.producer_replica_count}",
        symbols=",".join(symbols),
        kafka=settings.kafka_bootstrap_servers,
        topic=settings.trades_topic,
        metrics_port=settings.producer_metrics_port,
        record_file=settings.producer_record_file,
    )
    # Everything built so far lives as long as the process: freeze it out of every future collection.
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    try:
        service.run()
    finally:
        undelivered = sink.close(settings.producer_shutdown_flush_seconds)
        if recorder is not None:
            recorder.close()
        log_event(logger, "producer_stopped", undelivered=undelivered)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as exc:  # last resort: one redacted line instead of a traceback that could carry the key
        logger.critical("event=producer_crashed", exc_info=exc)
        sys.exit(1)
