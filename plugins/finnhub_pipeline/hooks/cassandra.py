"""The pipeline's Cassandra hook: the provider's `CassandraHook` on `cassandra_default`, with the driver
Cluster from the one builder every Cassandra client uses, plus the node's extras (JMX, data and backup
folders) for the maintenance tasks.
"""

from __future__ import annotations

from airflow.providers.apache.cassandra.hooks.cassandra import CassandraHook
from cassandra.metadata import Metadata

from finnhub_pipeline import connections
from finnhub_pipeline.connections import NodeAccess
from services.cassandra_session import CassandraConnection, cassandra_cluster


class PipelineCassandraHook(CassandraHook):
    """`CassandraHook` with the pipeline's Cluster: `get_conn()` (a Session), `get_cluster()`,
    `shutdown_cluster()`, `table_exists()` and `record_exists()` are the provider's.

    Why the provider's Cluster is replaced: it builds `Cluster(**conn_config)` from host, port, login and a
    load-balancing policy named in the extras (passed as a legacy parameter the driver deprecates), leaving
    the rest at the driver's defaults: no execution profile, so the consistency level is the driver's
    (LOCAL_ONE, not the pipeline's LOCAL_QUORUM), the request timeout is the driver's 10 s and no data
    center is preferred, and the protocol version is probed at every connect. Here the connection is read
    back with `connections.cassandra_connection` (the inverse of what the local runtime writes) and the
    Cluster built by `services.cassandra_session.cassandra_cluster`, like the Spark job's, the operations
    tools' and the tests': the maintenance tasks read at the consistency the job writes at, and TLS or
    another credential scheme is added in that one builder for all of them.

    Extras: `local_dc`, `consistency`, `request_timeout_s` for the client
    (`connections.CASSANDRA_CLIENT_EXTRAS`); `jmx_host`, `jmx_port`, `nodetool`, `data_dir`, `backup_dir` for
    the node (`node_access()`).
    """

    default_conn_name = connections.CASSANDRA_CONN_ID
    hook_name = "Cassandra (finnhub pipeline)"

    def __init__(self, cassandra_conn_id: str = default_conn_name) -> None:
        # Past CassandraHook.__init__ to BaseHook's: the provider's would build its own Cluster at once (which
        # starts a driver thread and warns about the legacy parameters) only for it to be thrown away. The
        # attributes its methods use are set here instead: cluster, keyspace (the connection's schema) and
        # session (test_cassandra_hook.py checks that none is missing).
        super(CassandraHook, self).__init__()
        self.cassandra_conn_id = cassandra_conn_id
        self._airflow_connection = self.get_connection(cassandra_conn_id)
        self.connection: CassandraConnection = connections.cassandra_connection(self._airflow_connection)
        self.cluster = cassandra_cluster(self.connection)
        self.keyspace = self._airflow_connection.schema
        self.session = None

    def schema_metadata(self) -> Metadata:
        """The cluster's schema as the driver sees it, refreshed now (another client may just have changed
        it); opens the session first, since the driver reads metadata when it connects."""
        cluster = self.get_conn().cluster
        cluster.refresh_schema_metadata()
        return cluster.metadata

    def node_access(self) -> NodeAccess:
        """How nodetool reaches the node, and its data and backup directories (from the extras)."""
        return connections.cassandra_node_access(self._airflow_connection)

    def __enter__(self) -> PipelineCassandraHook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown_cluster()
