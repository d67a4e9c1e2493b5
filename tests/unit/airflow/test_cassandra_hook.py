"""The Cassandra hook is the provider's, bound to a connection id, with the pipeline's own driver Cluster."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from airflow.providers.apache.cassandra.hooks.cassandra import CassandraHook
from cassandra import ConsistencyLevel  # type: ignore[attr-defined]
from cassandra.cluster import EXEC_PROFILE_DEFAULT

from finnhub_pipeline.connections import NodeAccess
from finnhub_pipeline.hooks.cassandra import PipelineCassandraHook
from services.cassandra_session import PROTOCOL_VERSION, CassandraConnection

CONN_ID = "cassandra_under_test"


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[PipelineCassandraHook]:
    document = {
        "conn_type": "cassandra",
        "host": "10.0.0.5,10.0.0.6",
        "port": 9043,
        "login": "pipeline",
        "password": "s3cret-value",
        "extra": {
            "local_dc": "dc2",
            "consistency": "QUORUM",
            "request_timeout_s": 12,
            "jmx_port": 7299,
            "nodetool": "/opt/cassandra/bin/nodetool",
            "data_dir": "/data/cassandra",
            "backup_dir": "/backups",
        },
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(document))
    cassandra = PipelineCassandraHook(CONN_ID)
    yield cassandra
    cassandra.shutdown_cluster()


def test_it_is_the_providers_hook_on_cassandra_default() -> None:
    assert issubclass(PipelineCassandraHook, CassandraHook)
    assert PipelineCassandraHook.default_conn_name == "cassandra_default"
    assert PipelineCassandraHook.conn_name_attr == "cassandra_conn_id"


def test_every_attribute_the_providers_methods_use_is_set(hook: PipelineCassandraHook) -> None:
    # The hook skips CassandraHook.__init__ (see its comment): it must set all that the provider's sets.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the provider's legacy Cluster parameters
        provider = CassandraHook(CONN_ID)
    try:
        assert set(vars(provider)) <= set(vars(hook))
    finally:
        provider.shutdown_cluster()
    assert hook.get_cluster() is hook.cluster
    assert (hook.keyspace, hook.session) == (None, None)


def test_the_connection_is_read_back_into_the_shared_client_connection(hook: PipelineCassandraHook) -> None:
    assert hook.connection == CassandraConnection(
        hosts=("10.0.0.5", "10.0.0.6"),
        port=9043,
        local_dc="dc2",
        consistency="QUORUM",
        username="pipeline",
        password="s3cret-value",
        request_timeout_s=12.0,
    )


def test_the_cluster_has_the_pipelines_consistency_data_center_and_timeout(
    hook: PipelineCassandraHook,
) -> None:
    cluster = hook.get_cluster()
    assert cluster.contact_points == ["10.0.0.5", "10.0.0.6"]
    assert cluster.port == 9043
    assert cluster.protocol_version == PROTOCOL_VERSION
    profile = cluster.profile_manager.profiles[EXEC_PROFILE_DEFAULT]
    assert profile.consistency_level == ConsistencyLevel.QUORUM
    assert profile.request_timeout == 12.0
    assert profile.load_balancing_policy._child_policy.local_dc == "dc2"
    assert cluster.auth_provider is not None and cluster.auth_provider.username == "pipeline"


def test_node_access_comes_from_the_same_connection(hook: PipelineCassandraHook) -> None:
    assert hook.node_access() == NodeAccess(
        nodetool="/opt/cassandra/bin/nodetool",
        jmx_host="10.0.0.5",
        jmx_port=7299,
        data_dir=Path("/data/cassandra"),
        backup_dir=Path("/backups"),
    )
