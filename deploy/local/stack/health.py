"""Health probes that ask each engine a real question (metadata, a CQL query, /-/ready)."""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
import urllib.request

from services import contracts
from services.cassandra_session import cassandra_cluster

from .settings import LOCALHOST, RuntimeSettings


class Unhealthy(Exception):
    """The engine answered wrongly or not at all; the message says what was asked and what happened."""


def http_ok(url: str, timeout_s: float = 2.0) -> None:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            if response.status != 200:
                raise Unhealthy(f"GET {url} answered {response.status}")
    except OSError as exc:
        raise Unhealthy(f"GET {url}: {exc}") from None


def producer_connected(metrics_port: int, timeout_s: float = 2.0) -> None:
    """The producer is healthy when its metrics say the WebSocket is connected and subscribed."""
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            text = response.read().decode()
    except OSError as exc:
        raise Unhealthy(f"GET {url}: {exc}") from None
    if f"\n{contracts.WEBSOCKET_CONNECTED} 1.0" not in text:
        raise Unhealthy("producer is not connected to its WebSocket (websocket_connected is not 1)")


def tcp_open(port: int, host: str = LOCALHOST, timeout_s: float = 1.0) -> None:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        raise Unhealthy(f"{host}:{port}: {exc}") from None


def airflow_component(port: int, component: str) -> None:
    """Airflow's /api/v2/monitor/health reports each component (metadatabase, scheduler, ...) as healthy."""
    url = f"http://127.0.0.1:{port}/api/v2/monitor/health"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            report = json.load(response)
    except (OSError, ValueError) as exc:
        raise Unhealthy(f"GET {url}: {exc}") from None
    status = (report.get(component) or {}).get("status")
    if status != "healthy":
        raise Unhealthy(f"Airflow reports {component} as {status}")


def kafka_metadata(settings: RuntimeSettings, timeout_s: float = 3.0) -> None:
    from confluent_kafka.admin import AdminClient

    tcp_open(settings.kafka_port)  # fail fast; librdkafka would retry quietly until its timeout
    admin = AdminClient(settings.kafka_connection().client_options(log_level=0))
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except Exception as exc:  # KafkaException carries librdkafka's reason
        raise Unhealthy(f"Kafka metadata request: {exc}") from None
    if not metadata.brokers:
        raise Unhealthy("Kafka metadata lists no broker")


def cassandra_query(settings: RuntimeSettings, timeout_s: float = 5.0) -> str:
    """Returns Cassandra's release_version from system.local."""
    from cassandra.cluster import NoHostAvailable

    tcp_open(settings.cassandra_port, settings.cassandra_host)
    logging.getLogger("cassandra").setLevel(logging.CRITICAL)
    connection = dataclasses.replace(
        settings.cassandra_connection(), connect_timeout_s=timeout_s, request_timeout_s=timeout_s
    )
    cluster = cassandra_cluster(connection)
    try:
        session = cluster.connect()
        row = session.execute("SELECT release_version FROM system.local", timeout=timeout_s).one()
        return str(row.release_version)
    except NoHostAvailable as exc:
        if connection.username and _refused_credentials(exc):
            # The node answered TLS and checked the password: it is up. On the first secured start its roles
            # do not exist yet (`stack up` creates them next: stack.cassandra_security).
            return "unknown (authentication refused)"
        raise Unhealthy(f"Cassandra query on system.local: {exc}") from None
    except (OSError, Exception) as exc:
        raise Unhealthy(f"Cassandra query on system.local: {exc}") from None
    finally:
        cluster.shutdown()


def _refused_credentials(error: Exception) -> bool:
    from cassandra import AuthenticationFailed  # type: ignore[attr-defined]

    return any(isinstance(cause, AuthenticationFailed) for cause in getattr(error, "errors", {}).values())
