"""How every Cassandra client of the pipeline connects: one typed connection, one function that builds the
driver's `Cluster` from it, and the environment variables that configure it.

Used by the Spark job's executors, the Airflow hooks, the operations tools, the health probes, the
benchmarks and the tests: contact points, port, data center, consistency, credentials and TLS are set here
once.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from cassandra import ConsistencyLevel  # type: ignore[attr-defined]
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from services.configuration import PipelineSettings

Consistency = Literal["ONE", "LOCAL_ONE", "QUORUM", "LOCAL_QUORUM", "ALL"]

DEFAULT_HOSTS = ("127.0.0.1",)
DEFAULT_PORT = 9042
DEFAULT_LOCAL_DC = "datacenter1"
"""The data center of SimpleSnitch (the local runtime's) and of a single-DC GossipingPropertyFileSnitch."""
SOCKET_OPTIONS = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)
"""Requests leave at once (Nagle's algorithm off). With it on, a request written while an earlier one is
unacknowledged waits for the server's delayed ACK (40 ms on Linux): a round of 11 single-partition batches,
as the job writes at 1,000 trades/s, took a median 62 ms with it and 20 ms without."""
DEFAULT_CONSISTENCY: Consistency = "LOCAL_QUORUM"
"""Writes and reads at LOCAL_QUORUM overlap, so a read sees every acknowledged write (the bar recompute
reads back the trades just written)."""
PROTOCOL_VERSION = 5
"""Cassandra 5.0's native protocol; pinned so the driver does not downgrade-probe at every connect."""


@dataclass(frozen=True)
class CassandraConnection:
    """Where the nodes are and how to talk to them; hashable and picklable (it travels to Spark executors)."""

    hosts: tuple[str, ...] = DEFAULT_HOSTS
    port: int = DEFAULT_PORT
    local_dc: str = DEFAULT_LOCAL_DC
    consistency: Consistency = DEFAULT_CONSISTENCY
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    request_timeout_s: float = 30.0
    connect_timeout_s: float = 15.0
    ca_certs: str | None = None
    """PEM file of the CA that signed the nodes' certificates: set, the client speaks TLS and verifies the
    node's certificate and host name. A path, not an SSLContext: the connection must stay picklable."""
    tls_server_name: str | None = None
    """The name the nodes' certificates carry, checked instead of the node's IP address (the driver resolves
    contact points to IPs; in Docker or Kubernetes those change, the service name does not)."""


def as_settings(connection: CassandraConnection) -> dict[str, str]:
    """The connection as `CassandraClientSettings` values by field name: the environment variables (upper-
    cased) or the PIPELINE_SECRETS_DIR files (as named) that give a child program this connection."""
    values = {
        "cassandra_hosts": ",".join(connection.hosts),
        "cassandra_port": str(connection.port),
        "cassandra_local_dc": connection.local_dc,
        "cassandra_consistency": connection.consistency,
    }
    if connection.username:
        values |= {"cassandra_username": connection.username, "cassandra_password": connection.password or ""}
    if connection.ca_certs:
        values["cassandra_ssl_ca_certs"] = connection.ca_certs
    if connection.tls_server_name:
        values["cassandra_ssl_server_name"] = connection.tls_server_name
    return values


def cassandra_cluster(connection: CassandraConnection) -> Cluster:
    """A driver `Cluster` (not yet connected): token-aware routing within the local data center, the
    connection's consistency level and timeouts, credentials when a user is set, Nagle's algorithm off."""
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=connection.local_dc)),
        consistency_level=ConsistencyLevel.name_to_value[connection.consistency],
        request_timeout=connection.request_timeout_s,
    )
    auth = (
        PlainTextAuthProvider(connection.username, connection.password or "") if connection.username else None
    )
    # create_default_context: certificate and host name verified (the legacy ssl_options path checks neither
    # unless asked to, and cqlsh's way of asking does not work).
    tls = ssl.create_default_context(cafile=connection.ca_certs) if connection.ca_certs else None
    return Cluster(
        contact_points=list(connection.hosts),
        port=connection.port,
        protocol_version=PROTOCOL_VERSION,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        auth_provider=auth,
        connect_timeout=connection.connect_timeout_s,
        sockopts=list(SOCKET_OPTIONS),
        ssl_context=tls,
        ssl_options={"server_hostname": connection.tls_server_name}
        if tls and connection.tls_server_name
        else None,
    )


def cassandra_session(connection: CassandraConnection, keyspace: str | None = None) -> Session:
    """A connected session (on `keyspace` when given); shut it down with `session.cluster.shutdown()`."""
    cluster = cassandra_cluster(connection)
    try:
        return cluster.connect(keyspace)
    except Exception:
        cluster.shutdown()  # its threads would otherwise outlive the failed connect
        raise


class CassandraClientSettings(PipelineSettings):
    """The Cassandra connection variables shared by every program that reads its settings from the
    environment (the local runtime builds its connection from its own node settings instead).

    CASSANDRA_PASSWORD may also come from a file named `cassandra_password` in PIPELINE_SECRETS_DIR."""

    cassandra_hosts: Annotated[tuple[str, ...], NoDecode] = DEFAULT_HOSTS
    cassandra_port: int = Field(DEFAULT_PORT, gt=0, lt=65536)
    cassandra_local_dc: str = Field(DEFAULT_LOCAL_DC, min_length=1)
    cassandra_consistency: Consistency = DEFAULT_CONSISTENCY
    cassandra_username: str | None = None
    cassandra_password: SecretStr | None = None
    cassandra_ssl_ca_certs: Path | None = None
    cassandra_ssl_server_name: str | None = None

    @field_validator("cassandra_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            hosts = tuple(host.strip() for host in value.split(",") if host.strip())
            if not hosts:
                raise ValueError("needs at least one host, e.g. 127.0.0.1,10.0.0.2")
            return hosts
        return value

    def cassandra_connection(self) -> CassandraConnection:
        return CassandraConnection(
            hosts=self.cassandra_hosts,
            port=self.cassandra_port,
            local_dc=self.cassandra_local_dc,
            consistency=self.cassandra_consistency,
            username=self.cassandra_username,
            password=self.cassandra_password.get_secret_value() if self.cassandra_password else None,
            ca_certs=str(self.cassandra_ssl_ca_certs) if self.cassandra_ssl_ca_certs else None,
            tls_server_name=self.cassandra_ssl_server_name,
        )
