"""Metrics: every name in the table is exported, the seed's names are the contracts', labels stay bounded."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from services import contracts
from services.producer.metrics import MAX_SERVER_ERROR_LABELS, METRIC_NAMES, ProducerMetrics


def exported_names(registry: CollectorRegistry) -> set[str]:
    return {metric.name for metric in registry.collect()}


def test_the_seed_metric_names_are_the_contract_names() -> None:
    seed = {contracts.MESSAGES_RECEIVED, contracts.KAFKA_MESSAGES_SENT, contracts.WEBSOCKET_CONNECTED}
    assert seed | {contracts.PROCESSING_LATENCY} <= set(METRIC_NAMES.values())


def test_every_metric_in_the_table_is_exported() -> None:
    registry = CollectorRegistry()
    ProducerMetrics(registry)
    text = generate_latest(registry).decode()
    for name in METRIC_NAMES.values():
        assert f"# TYPE {name} " in text or f"# TYPE {name.removesuffix('_total')} counter" in text, name


def test_each_instance_uses_its_own_registry() -> None:
    first, second = ProducerMetrics(CollectorRegistry()), ProducerMetrics(CollectorRegistry())
    first.pings.inc()
    assert second.registry.get_sample_value("finnhub_pings_total") == 0
    assert first.registry.get_sample_value("finnhub_pings_total") == 1


def test_server_error_labels_are_capped_and_the_rest_count_as_other(metrics: ProducerMetrics) -> None:
    labels = [metrics.server_error_label(f"message {i}") for i in range(MAX_SERVER_ERROR_LABELS + 5)]
    assert labels[:MAX_SERVER_ERROR_LABELS] == [f"message {i}" for i in range(MAX_SERVER_ERROR_LABELS)]
    assert set(labels[MAX_SERVER_ERROR_LABELS:]) == {"other"}
    assert metrics.server_error_label("message 0") == "message 0"


def test_last_message_age_counts_from_the_last_frame() -> None:
    now = [100.0]
    metrics = ProducerMetrics(CollectorRegistry(), clock=lambda: now[0])
    now[0] = 130.0
    assert metrics.registry.get_sample_value("finnhub_last_message_age_seconds") == 30.0
    metrics.message_seen()
    now[0] = 131.5
    assert metrics.registry.get_sample_value("finnhub_last_message_age_seconds") == 1.5
