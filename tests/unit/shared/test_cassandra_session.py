"""The one Cassandra cluster builder: routing, consistency, credentials and TLS from one connection."""

from __future__ import annotations

import pickle
import socket
import ssl
import subprocess
from pathlib import Path

import pytest
from cassandra import ConsistencyLevel  # type: ignore[attr-defined]
from cassandra.cluster import EXEC_PROFILE_DEFAULT

from services.cassandra_session import CassandraClientSettings, CassandraConnection, cassandra_cluster


def test_the_cluster_routes_within_the_local_dc_at_the_connections_consistency() -> None:
    cluster = cassandra_cluster(CassandraConnection(hosts=("10.0.0.1", "10.0.0.2"), consistency="QUORUM"))
    profile = cluster.profile_manager.profiles[EXEC_PROFILE_DEFAULT]
    assert cluster.contact_points == ["10.0.0.1", "10.0.0.2"]
    assert profile.consistency_level == ConsistencyLevel.QUORUM
    assert profile.load_balancing_policy._child_policy.local_dc == "datacenter1"
    assert cluster.ssl_context is None and cluster.auth_provider is None


def test_the_cluster_sends_requests_without_waiting_for_acknowledgements() -> None:
    cluster = cassandra_cluster(CassandraConnection())
    assert (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1) in cluster.sockopts


@pytest.fixture
def ca(tmp_path: Path) -> Path:
    """A CA certificate file (self-signed, a day long): enough for the driver to build its TLS context."""
    path = tmp_path / "ca.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test CA",
         "-keyout", str(tmp_path / "ca.key"), "-out", str(path)],
        check=True, capture_output=True,
    )  # fmt: skip
    return path


def test_credentials_and_a_ca_give_an_authenticated_verifying_tls_client(ca: Path) -> None:
    connection = CassandraConnection(username="writer", password="pw", ca_certs=str(ca))
    cluster = cassandra_cluster(connection)
    assert cluster.auth_provider is not None and cluster.auth_provider.username == "writer"
    assert cluster.ssl_context.verify_mode == ssl.CERT_REQUIRED
    assert cluster.ssl_context.check_hostname is True
    assert "pw" not in repr(connection).replace("password", "")
    assert pickle.loads(pickle.dumps(connection)) == connection


def test_settings_read_the_password_from_the_secrets_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "cassandra_password").write_text("from-a-file")
    monkeypatch.setenv("PIPELINE_SECRETS_DIR", str(tmp_path))
    monkeypatch.setenv("CASSANDRA_USERNAME", "writer")
    connection = CassandraClientSettings.load().cassandra_connection()
    assert (connection.username, connection.password) == ("writer", "from-a-file")


def test_a_tls_server_name_is_checked_instead_of_the_nodes_address(ca: Path) -> None:
    named = cassandra_cluster(CassandraConnection(ca_certs=str(ca), tls_server_name="cassandra"))
    assert named.ssl_options == {"server_hostname": "cassandra"}
    assert cassandra_cluster(CassandraConnection(ca_certs=str(ca))).ssl_options is None


def test_a_connection_given_as_settings_reads_back_as_the_same_connection(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from services.cassandra_session import as_settings

    connection = CassandraConnection(
        hosts=("10.0.0.1", "10.0.0.2"), port=9142, username="w", password="pw", ca_certs="/ca.crt",
        tls_server_name="cassandra", consistency="QUORUM",
    )  # fmt: skip
    for name, value in as_settings(connection).items():
        (tmp_path / name).write_text(value)
    monkeypatch.setenv("PIPELINE_SECRETS_DIR", str(tmp_path))
    assert CassandraClientSettings.load().cassandra_connection() == connection
