"""Reads what a TTL audit needs from Cassandra: a table's default TTL and a sample of rows' TTL/WRITETIME.

Rows are sampled from a random point of the token ring (then from its start if that ran out), so a daily
audit looks at different partitions each day. Judging the samples is `ttl_policy`'s job; the TTL audit
operator runs both.
"""

from __future__ import annotations

import random

from cassandra.metadata import TableMetadata

from finnhub_pipeline.exceptions import TtlViolationError
from finnhub_pipeline.hooks.cassandra import PipelineCassandraHook
from finnhub_pipeline.ttl_policy import SampledCell

MIN_TOKEN, MAX_TOKEN = -(2**63), 2**63 - 1


class TtlSampler:
    """A table's default TTL, and sampled rows' TTL and write time, in one keyspace."""

    def __init__(self, cassandra: PipelineCassandraHook, keyspace: str) -> None:
        self.cassandra = cassandra
        self.keyspace = keyspace

    def _table(self, table: str) -> TableMetadata:
        keyspace = self.cassandra.schema_metadata().keyspaces.get(self.keyspace)
        if keyspace is None or table not in keyspace.tables:
            raise TtlViolationError(f"table {self.keyspace}.{table} does not exist: nothing to audit")
        return keyspace.tables[table]

    def default_ttl(self, table: str) -> int:
        return int(self._table(table).options.get("default_time_to_live", 0) or 0)

    def probe_column(self, table: str) -> str:
        """The first regular (non-key) column; TTL() and WRITETIME() only work on those."""
        metadata = self._table(table)
        keys = {column.name for column in (*metadata.partition_key, *metadata.clustering_key)}
        for name, column in metadata.columns.items():
            if name not in keys and not column.cql_type.startswith(("list<", "set<", "map<")):
                return str(name)
        raise TtlViolationError(f"table {self.keyspace}.{table} has no regular scalar column to probe")

    def sample(
        self, table: str, size: int, column: str | None = None, seed: int | None = None
    ) -> list[SampledCell]:
        metadata = self._table(table)
        probe = column or self.probe_column(table)
        partition = ", ".join(f'"{c.name}"' for c in metadata.partition_key)
        key_columns = [c.name for c in (*metadata.partition_key, *metadata.clustering_key)]
        selected = ", ".join(f'"{name}"' for name in key_columns)
        query = (
            f'SELECT {selected}, TTL("{probe}") AS ttl_s, WRITETIME("{probe}") AS writetime_us '
            f"FROM {self.keyspace}.{table} WHERE token({partition}) >= %s LIMIT %s"
        )
        session = self.cassandra.get_conn()
        start = random.Random(seed).randint(MIN_TOKEN, MAX_TOKEN)
        rows = list(session.execute(query, (start, size)))
        if len(rows) < size:
            rows += list(session.execute(query, (MIN_TOKEN, size - len(rows))))
        cells: dict[str, SampledCell] = {}
        for row in rows:
            key = "(" + ", ".join(f"{name}={getattr(row, name)!s}" for name in key_columns) + ")"
            cells[key] = SampledCell(key, row.ttl_s, row.writetime_us)
        return list(cells.values())
