"""Airflow connections ↔ the pipeline's own client connections, both ways, in one place.

The local runtime writes `kafka_default` and `cassandra_default` (as AIRFLOW_CONN_* JSON) from the same
`KafkaConnection` and `CassandraConnection` every other client uses; the hooks read them back into those
types and build their clients with the shared builders (`services.kafka_options`,
`services.cassandra_session`). No module here imports Airflow.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from services.cassandra_session import DEFAULT_PORT, CassandraConnection, Consistency
from services.kafka_options import KafkaConnection

KAFKA_CONN_ID = "kafka_default"
CASSANDRA_CONN_ID = "cassandra_default"
SPARK_CONN_ID = "spark_default"

CASSANDRA_CLIENT_EXTRAS = ("local_dc", "consistency", "request_timeout_s", "ca_certs", "tls_server_name")
"""Extras of a Cassandra connection that configure the client; the others describe the node (JMX, nodetool,
data and backup folders) for the maintenance tasks (`NodeAccess`)."""
DEFAULT_JMX_PORT = 7199
"""Cassandra's JMX port, which nodetool talks to."""


class AirflowConnection(Protocol):
    """The fields of an Airflow `Connection` read here (tests pass a plain object)."""

    host: str | None
    port: int | None
    login: str | None
    password: str | None

    @property
    def extra_dejson(self) -> dict[str, Any]: ...


def kafka_airflow_connection(connection: KafkaConnection) -> dict[str, Any]:
    """`kafka_default` as AIRFLOW_CONN_* JSON: the Kafka provider's hooks take the extra as librdkafka
    configuration, so it is exactly the shared client options."""
    return {"conn_type": "kafka", "extra": connection.client_options()}


def cassandra_airflow_connection(connection: CassandraConnection, **node_extras: object) -> dict[str, Any]:
    """`cassandra_default` as AIRFLOW_CONN_* JSON: contact points, port, credentials and client extras from
    `connection`, plus the node's own extras (jmx_port, nodetool, data_dir, backup_dir)."""
    document: dict[str, Any] = {
        "conn_type": "cassandra",
        "host": ",".join(connection.hosts),
        "port": connection.port,
        "extra": {
            "local_dc": connection.local_dc,
            "consistency": connection.consistency,
            "request_timeout_s": connection.request_timeout_s,
            **node_extras,
        },
    }
    if connection.ca_certs:
        document["extra"]["ca_certs"] = connection.ca_certs  # TLS, verified against this CA
    if connection.tls_server_name:
        document["extra"]["tls_server_name"] = connection.tls_server_name
    if connection.username:
        document["login"] = connection.username
        document["password"] = connection.password or ""
    return document


def cassandra_connection(conn: AirflowConnection) -> CassandraConnection:
    """The client connection an Airflow Cassandra connection describes (defaults: the shared ones)."""
    extras: Mapping[str, Any] = conn.extra_dejson
    defaults = CassandraConnection()
    hosts = tuple(host.strip() for host in (conn.host or "").split(",") if host.strip())
    consistency: Consistency = extras.get("consistency", defaults.consistency)
    return CassandraConnection(
        hosts=hosts or defaults.hosts,
        port=int(conn.port or DEFAULT_PORT),
        local_dc=str(extras.get("local_dc", defaults.local_dc)),
        consistency=consistency,
        username=conn.login or None,
        password=conn.password or None,
        request_timeout_s=float(extras.get("request_timeout_s", defaults.request_timeout_s)),
        ca_certs=str(extras["ca_certs"]) if extras.get("ca_certs") else None,
        tls_server_name=str(extras["tls_server_name"]) if extras.get("tls_server_name") else None,
    )


def as_environment(conn_id: str, document: Mapping[str, Any]) -> tuple[str, str]:
    """(`AIRFLOW_CONN_<ID>`, JSON): how Airflow reads a connection from the environment."""
    return f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(document)


@dataclass(frozen=True)
class NodeAccess:
    """How to reach the node beyond CQL: JMX for nodetool, and its data and backup directories."""

    nodetool: str
    jmx_host: str
    jmx_port: int
    data_dir: Path | None
    backup_dir: Path | None


def cassandra_node_access(conn: AirflowConnection) -> NodeAccess:
    """The node extras of an Airflow Cassandra connection: `nodetool` (default: `nodetool` on PATH),
    `jmx_host` (default: the first contact point), `jmx_port` (7199), `data_dir`, `backup_dir`."""
    extras: Mapping[str, Any] = conn.extra_dejson
    first_host = cassandra_connection(conn).hosts[0]
    return NodeAccess(
        nodetool=str(extras.get("nodetool", "nodetool")),
        jmx_host=str(extras.get("jmx_host", first_host)),
        jmx_port=int(extras.get("jmx_port", DEFAULT_JMX_PORT)),
        data_dir=Path(extras["data_dir"]) if extras.get("data_dir") else None,
        backup_dir=Path(extras["backup_dir"]) if extras.get("backup_dir") else None,
    )
