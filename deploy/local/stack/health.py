"""Health probes that ask each engine a real question (metadata, a CQL query, /-/ready); a cluster's nodes are
each asked on their own address (is this broker registered, has this Cassandra node joined the ring, is this
Spark worker registered with the master)."""

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


def kafka_node(settings: RuntimeSettings, host: str, node_id: int, timeout_s: float = 5.0) -> None:
    """Broker `node_id` on `host` answers a metadata request with itself registered and a controller elected
    (a broker that has not joined the quorum, or is fenced, is not listed)."""
    from confluent_kafka.admin import AdminClient

    tcp_open(settings.kafka_port, host)
    connection = dataclasses.replace(
        settings.kafka_connection(), bootstrap_servers=f"{host}:{settings.kafka_port}"
    )
    admin = AdminClient(connection.client_options(log_level=0))
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except Exception as exc:  # KafkaException carries librdkafka's reason
        raise Unhealthy(f"Kafka metadata request: {exc}") from None
    if node_id not in metadata.brokers:
        listed = sorted(metadata.brokers)
        raise Unhealthy(f"broker {node_id} is not registered (the cluster lists brokers {listed})")
    if metadata.controller_id < 0:
        raise Unhealthy("no active controller: the quorum has no leader")


def cassandra_node(settings: RuntimeSettings, host: str, timeout_s: float = 5.0) -> str:
    """The node on `host` answers CQL and knows every other node (it joined the ring); its release."""
    return cassandra_query(settings, timeout_s, host=host)


def cassandra_query(settings: RuntimeSettings, timeout_s: float = 5.0, host: str | None = None) -> str:
    """Returns Cassandra's release_version from system.local (of `host`, which must then see every other
    node of the cluster in system.peers_v2)."""
    from cassandra.cluster import NoHostAvailable

    tcp_open(settings.cassandra_port, host or settings.cassandra_hosts[0])
    logging.getLogger("cassandra").setLevel(logging.CRITICAL)
    connection = dataclasses.replace(
        settings.cassandra_connection(),
        hosts=(host,) if host else settings.cassandra_hosts,
        connect_timeout_s=timeout_s,
        request_timeout_s=timeout_s,
    )
    cluster = cassandra_cluster(connection)
    try:
        session = cluster.connect()
        target = next((h for h in cluster.metadata.all_hosts() if h.address == host), None) if host else None
        if host and target is None:
            raise Unhealthy(f"Cassandra on {host} is not in the driver's view of the cluster")
        row = session.execute(
            "SELECT release_version FROM system.local", timeout=timeout_s, host=target
        ).one()
        if host and len(settings.cassandra_hosts) > 1:
            peers = session.execute("SELECT peer FROM system.peers_v2", timeout=timeout_s, host=target)
            known = {str(peer.peer) for peer in peers}
            missing = sorted(set(settings.cassandra_hosts) - known - {host})
            if missing:
                raise Unhealthy(
                    f"the node on {host} has not joined the ring: it does not know {', '.join(missing)}"
                )
        return str(row.release_version)
    except Unhealthy:
        raise
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


def spark_master(settings: RuntimeSettings, timeout_s: float = 3.0) -> dict[str, object]:
    """The standalone master's status page says ALIVE; returns its JSON (workers, cores, applications)."""
    url = f"http://127.0.0.1:{settings.spark_master_webui_port}/json/"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            state: dict[str, object] = json.load(response)
    except (OSError, ValueError) as exc:
        raise Unhealthy(f"GET {url}: {exc}") from None
    if state.get("status") != "ALIVE":
        raise Unhealthy(f"the Spark master is {state.get('status')}, not ALIVE")
    return state


def spark_worker(settings: RuntimeSettings, webui_port: int, timeout_s: float = 3.0) -> None:
    """The worker whose UI is on `webui_port` answers and is registered, ALIVE, with the master."""
    http_ok(f"http://127.0.0.1:{webui_port}/json/", timeout_s)
    workers = spark_master(settings, timeout_s).get("workers") or []
    assert isinstance(workers, list)
    mine = [w for w in workers if str(w.get("webuiaddress", "")).endswith(f":{webui_port}")]
    if not any(w.get("state") == "ALIVE" for w in mine):
        raise Unhealthy(f"the worker with UI port {webui_port} is not registered ALIVE with the master")
