"""Runs Cassandra's nodetool against the node of the `cassandra_default` connection (JMX host/port).

Each method is one nodetool command; output parsing lives in `nodetool_output.py`. A non-zero exit raises
`NodetoolError` with the command and the tail of its output.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Sequence
from pathlib import Path

from finnhub_pipeline.exceptions import NodetoolError
from finnhub_pipeline.hooks.cassandra_session import NodeAccess
from finnhub_pipeline.nodetool_output import TableStats, parse_tablestats_json

log = logging.getLogger(__name__)


class NodetoolHook:
    """nodetool with `-h <jmx_host> -p <jmx_port>`; built from a `CassandraSessionHook`'s node access."""

    def __init__(self, access: NodeAccess, timeout_s: float = 3600) -> None:
        self.access = access
        self.timeout_s = timeout_s

    def run(self, *args: str) -> str:
        command: Sequence[str] = [
            self.access.nodetool,
            "-h",
            self.access.jmx_host,
            "-p",
            str(self.access.jmx_port),
            *args,
        ]
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
