"""Checks the live Cassandra schema against the pipeline's expectation (pipeline_bootstrap, after migrating).

Compares tables, partition keys, clustering keys and order, default TTLs and column types, and fails with
`SchemaDriftError` listing every difference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

from finnhub_pipeline import schema_drift
from finnhub_pipeline.connections import CASSANDRA_CONN_ID
from finnhub_pipeline.exceptions import SchemaDriftError
from finnhub_pipeline.hooks.cassandra import PipelineCassandraHook
from finnhub_pipeline.migrations import CqlMigrator
from finnhub_pipeline.schema_drift import TableShape
from services import contracts


class SchemaDriftCheckOperator(BaseOperator):
    """Returns the checked table names; `expected` defaults to `schema_drift.expected_tables()`."""

    template_fields: Sequence[str] = ("keyspace",)

    def __init__(
        self,
        *,
        keyspace: str = contracts.KEYSPACE,
        expected: Mapping[str, TableShape] | None = None,
        cassandra_conn_id: str = CASSANDRA_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.keyspace = keyspace
        self.expected = expected
        self.cassandra_conn_id = cassandra_conn_id

    def execute(self, context: Context) -> list[str]:
        if not str(self.keyspace).isidentifier():
            raise ValueError(f"keyspace must be a plain CQL identifier, got {self.keyspace!r}")
        expected = dict(self.expected) if self.expected is not None else schema_drift.expected_tables()
        with PipelineCassandraHook(self.cassandra_conn_id) as cassandra:
            live = CqlMigrator(cassandra, self.keyspace).live_tables()
        differences = schema_drift.diff(self.keyspace, expected, live)
        if differences:
            raise SchemaDriftError(schema_drift.render_drift(self.keyspace, differences))
        extra = sorted(set(live) - set(expected) - {contracts.MIGRATIONS_TABLE})
        if extra:
            self.log.warning(
                "event=schema_extra_tables keyspace=%s tables=%s", self.keyspace, ",".join(extra)
            )
        self.log.info("event=schema_matches keyspace=%s tables=%s", self.keyspace, ",".join(sorted(expected)))
        return sorted(expected)
