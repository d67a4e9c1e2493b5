"""Applies the CQL migrations of sql/cql to a keyspace, records them, and reads the live table shapes.

The plan (order, checksums, rendering) is `migration_plan`; `CqlMigrator` only talks to Cassandra, through
a `PipelineCassandraHook`. Applied versions live in `<keyspace>.schema_migrations`
(`contracts.MIGRATIONS_TABLE`), created here.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from cassandra import DriverException  # type: ignore[attr-defined]
from cassandra.metadata import KeyspaceMetadata

from finnhub_pipeline import migration_plan
from finnhub_pipeline.exceptions import MigrationError
from finnhub_pipeline.hooks.cassandra import PipelineCassandraHook
from finnhub_pipeline.migration_plan import AppliedMigration, Migration
from finnhub_pipeline.schema_drift import TableShape
from services import contracts

log = logging.getLogger(__name__)


class CqlMigrator:
    """Migration bookkeeping and schema reading for one keyspace."""

    def __init__(self, cassandra: PipelineCassandraHook, keyspace: str = contracts.KEYSPACE) -> None:
        self.cassandra = cassandra
        self.keyspace = keyspace

    @property
    def _table(self) -> str:
        return f"{self.keyspace}.{contracts.MIGRATIONS_TABLE}"

    def _keyspace_metadata(self) -> KeyspaceMetadata | None:
        keyspace: KeyspaceMetadata | None = self.cassandra.schema_metadata().keyspaces.get(self.keyspace)
        return keyspace

    def ensure_migrations_table(self) -> None:
        self.cassandra.get_conn().execute(
            f"CREATE TABLE IF NOT EXISTS {self._table} ("
            "version int PRIMARY KEY, filename text, checksum text, applied_at timestamp)"
        )

    def applied(self) -> dict[int, AppliedMigration]:
        keyspace = self._keyspace_metadata()
        if keyspace is None or contracts.MIGRATIONS_TABLE not in keyspace.tables:
            return {}
        rows = self.cassandra.get_conn().execute(f"SELECT version, filename, checksum FROM {self._table}")
        return {row.version: AppliedMigration(row.version, row.filename, row.checksum) for row in rows}

    def apply(self, migration: Migration, replication_factor: int) -> None:
        statement = migration_plan.render(migration, replication_factor, self.keyspace)
        session = self.cassandra.get_conn()
        try:
            session.execute(statement)
        except DriverException as error:
            raise MigrationError(
                f"{migration.filename} failed on keyspace {self.keyspace}: {error}"
            ) from error
        # The first migration creates the keyspace, so the bookkeeping table can only follow it.
        self.ensure_migrations_table()
        session.execute(
            f"INSERT INTO {self._table} (version, filename, checksum, applied_at) VALUES (%s, %s, %s, %s)",
            (migration.version, migration.filename, migration.checksum, datetime.now(UTC)),
        )
        log.info("event=migration_applied keyspace=%s file=%s", self.keyspace, migration.filename)

    def migrate(self, directory: Path, replication_factor: int) -> list[str]:
        """Applies every pending migration in order; returns the applied filenames (empty: up to date)."""
        pending = migration_plan.pending(migration_plan.discover(directory), self.applied())
        for migration in pending:
            self.apply(migration, replication_factor)
        return [migration.filename for migration in pending]

    def live_tables(self) -> dict[str, TableShape]:
        """The keyspace's tables as `TableShape`s, from the driver's refreshed schema metadata."""
        keyspace = self._keyspace_metadata()
        if keyspace is None:
            return {}
        tables: dict[str, TableShape] = {}
        for name, table in keyspace.tables.items():
            tables[name] = TableShape(
                name=name,
                partition_key=tuple(column.name for column in table.partition_key),
                clustering=tuple(
                    (column.name, "DESC" if column.is_reversed else "ASC") for column in table.clustering_key
                ),
                default_ttl=int(table.options.get("default_time_to_live", 0) or 0),
                columns={column_name: column.cql_type for column_name, column in table.columns.items()},
            )
        return tables
