"""Applies the CQL migrations of sql/cql in version order, once each (pipeline_bootstrap).

`${replication_factor}` comes from the argument or env CASSANDRA_REPLICATION_FACTOR (default 1); a changed
applied file fails with `MigrationChecksumError`. The keyspace is a parameter so tests use a fresh one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator, Context

from finnhub_pipeline.connections import CASSANDRA_CONN_ID
from finnhub_pipeline.hooks.cassandra import PipelineCassandraHook
from finnhub_pipeline.migrations import CqlMigrator
from finnhub_pipeline.operators._arguments import from_env
from services import contracts


class CqlMigrationsOperator(BaseOperator):
    """Returns the filenames it applied (empty when the keyspace was already up to date)."""

    template_fields: Sequence[str] = ("migrations_dir", "keyspace", "replication_factor")

    def __init__(
        self,
        *,
        migrations_dir: str | Path,
        keyspace: str = contracts.KEYSPACE,
        replication_factor: int | str | None = None,
        cassandra_conn_id: str = CASSANDRA_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.migrations_dir = str(migrations_dir)
        self.keyspace = keyspace
        self.replication_factor = replication_factor
        self.cassandra_conn_id = cassandra_conn_id

    def execute(self, context: Context) -> list[str]:
        directory = Path(self.migrations_dir)
        if not directory.is_dir():
            raise ValueError(f"migrations_dir {directory} is not a directory")
        if not str(self.keyspace).isidentifier():
            raise ValueError(f"keyspace must be a plain CQL identifier, got {self.keyspace!r}")
        replication_factor = from_env(
            "replication_factor", self.replication_factor, "CASSANDRA_REPLICATION_FACTOR", 1
        )
        with PipelineCassandraHook(self.cassandra_conn_id) as cassandra:
            applied = CqlMigrator(cassandra, self.keyspace).migrate(directory, replication_factor)
        if applied:
            self.log.info("event=migrations_applied keyspace=%s files=%s", self.keyspace, ",".join(applied))
        else:
            self.log.info("event=migrations_up_to_date keyspace=%s", self.keyspace)
        return applied
