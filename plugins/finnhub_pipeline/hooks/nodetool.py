"""Runs Cassandra's nodetool against the node of the `cassandra_default` connection (JMX host and port).

Each method is one nodetool command; output parsing lives in `nodetool_output.py`. A non-zero exit raises
`NodetoolError` with the command and the tail of its output.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Sequence
from pathlib import Path

from airflow.sdk import BaseHook

from finnhub_pipeline import connections
from finnhub_pipeline.connections import NodeAccess
from finnhub_pipeline.exceptions import NodetoolError
from finnhub_pipeline.nodetool_output import TableStats, parse_tablestats_json

log = logging.getLogger(__name__)


class NodetoolHook(BaseHook):
    """nodetool with `-h <jmx_host> -p <jmx_port>`, both read from the Cassandra connection's extras
    (`jmx_host`, default its first host; `jmx_port`, default 7199; `nodetool`, default on PATH).

    The same connection as `PipelineCassandraHook`: one node, reached over CQL by that hook and over JMX by
    this one.
    """

    conn_name_attr = "cassandra_conn_id"
    default_conn_name = connections.CASSANDRA_CONN_ID
    conn_type = "cassandra"
    hook_name = "Cassandra nodetool (finnhub pipeline)"

    def __init__(self, cassandra_conn_id: str = default_conn_name, timeout_s: float = 3600) -> None:
        super().__init__()
        self.cassandra_conn_id = cassandra_conn_id
        self.timeout_s = timeout_s
        self._access: NodeAccess | None = None

    def get_conn(self) -> NodeAccess:
        """The node's JMX endpoint and nodetool binary, read from the connection once."""
        if self._access is None:
            self._access = connections.cassandra_node_access(self.get_connection(self.cassandra_conn_id))
        return self._access

    def run(self, *args: str) -> str:
        access = self.get_conn()
        command: Sequence[str] = [access.nodetool, "-h", access.jmx_host, "-p", str(access.jmx_port), *args]
        log.info("event=nodetool command=%r", " ".join(args))
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=self.timeout_s, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise NodetoolError(f"nodetool {' '.join(args)}: could not run {command[0]}: {error}") from error
        if result.returncode != 0:
            tail = (result.stderr.strip() or result.stdout.strip())[-1500:]
            raise NodetoolError(f"nodetool {' '.join(args)} exited {result.returncode}: {tail}")
        return result.stdout

    def tablestats(self, keyspace: str, table: str) -> TableStats:
        return parse_tablestats_json(
            self.run("tablestats", "-F", "json", f"{keyspace}.{table}"), keyspace, table
        )

    def flush(self, keyspace: str, *tables: str) -> None:
        self.run("flush", "--", keyspace, *tables)

    def garbagecollect(self, keyspace: str, table: str) -> None:
        self.run("garbagecollect", "--", keyspace, table)

    def compact(self, keyspace: str, table: str) -> None:
        self.run("compact", "--", keyspace, table)

    def snapshot(self, keyspace: str, tag: str) -> None:
        self.run("snapshot", "-t", tag, "--", keyspace)

    def clearsnapshot(self, keyspace: str, tag: str) -> None:
        self.run("clearsnapshot", "-t", tag, "--", keyspace)

    def import_sstables(self, keyspace: str, table: str, directory: Path) -> None:
        self.run("import", "--", keyspace, table, str(directory))
