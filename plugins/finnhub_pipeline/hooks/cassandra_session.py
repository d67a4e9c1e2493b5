"""Cassandra client and node-side details from one Airflow connection (default `cassandra_default`).

Host, port, login come from the connection; extras name the JMX port, the nodetool binary, the node's data
directory and the backup directory (see README.md). Every other Cassandra hook builds on this one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow.sdk import BaseHook
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy


@dataclass(frozen=True)
class NodeAccess:
    """How to reach the node beyond CQL: JMX for nodetool, and its data and backup directories."""

    nodetool: str
    jmx_host: str
    jmx_port: int
    data_dir: Path | None
    backup_dir: Path | None


class CassandraSessionHook(BaseHook):
    """A driver `Session` for the connection's contact points, plus the node access of its extras.

    Extras: `jmx_host` (default: the connection's first host), `jmx_port` (7199), `nodetool` (`nodetool`
    on PATH), `data_dir`, `backup_dir`, `protocol_version` (5), `local_dc`, `request_timeout_s` (60).
    """

    conn_name_attr = "cassandra_conn_id"
    default_conn_name = "cassandra_default"
    conn_type = "cassandra"
    hook_name = "Cassandra (finnhub pipeline)"

    def __init__(self, cassandra_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.cassandra_conn_id = cassandra_conn_id
        self._cluster: Cluster | None = None
        self._session: Session | None = None
        self._extras: dict[str, Any] | None = None
        self._hosts: list[str] = []
        self._port = 9042
        self._auth: PlainTextAuthProvider | None = None

    def _load(self) -> dict[str, Any]:
        if self._extras is None:
            conn = self.get_connection(self.cassandra_conn_id)
            self._hosts = [host.strip() for host in (conn.host or "127.0.0.1").split(",") if host.strip()]
            self._port = int(conn.port or 9042)
            if conn.login:
                self._auth = PlainTextAuthProvider(username=conn.login, password=conn.password)
            self._extras = dict(conn.extra_dejson)
        return self._extras

    @property
    def extras(self) -> dict[str, Any]:
        return self._load()

    def get_conn(self) -> Session:
        if self._session is None or self._session.is_shutdown:
            extras = self._load()
            options: dict[str, Any] = {
                "contact_points": self._hosts,
                "port": self._port,
                "protocol_version": int(extras.get("protocol_version", 5)),
                "auth_provider": self._auth,
            }
            profile = ExecutionProfile(
                load_balancing_policy=TokenAwarePolicy(
                    DCAwareRoundRobinPolicy(local_dc=extras.get("local_dc"))
                ),
                request_timeout=float(extras.get("request_timeout_s", 60)),
            )
            self._cluster = Cluster(**options, execution_profiles={EXEC_PROFILE_DEFAULT: profile})
            self._session = self._cluster.connect()
        return self._session

    @property
    def cluster(self) -> Cluster:
        self.get_conn()
        assert self._cluster is not None
        return self._cluster

    def node_access(self) -> NodeAccess:
        extras = self._load()
        return NodeAccess(
            nodetool=str(extras.get("nodetool", "nodetool")),
            jmx_host=str(extras.get("jmx_host", self._hosts[0])),
            jmx_port=int(extras.get("jmx_port", 7199)),
            data_dir=Path(extras["data_dir"]) if extras.get("data_dir") else None,
            backup_dir=Path(extras["backup_dir"]) if extras.get("backup_dir") else None,
        )

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.shutdown()
        self._cluster = None
        self._session = None

    def __enter__(self) -> CassandraSessionHook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
