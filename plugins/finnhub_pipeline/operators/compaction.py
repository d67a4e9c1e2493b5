"""Garbage-collects and compacts the pipeline's tables with nodetool (cassandra_compaction DAG).

Per table: `tablestats` before, `garbagecollect`, `compact`, `tablestats` after; both are logged and
returned as XCom, so the effect (SSTables, bytes) is visible run by run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

from finnhub_pipeline.connections import CASSANDRA_CONN_ID
from finnhub_pipeline.hooks.nodetool import NodetoolHook
from services import contracts


class CassandraCompactionOperator(BaseOperator):
    """Returns `{table: {"before": stats, "after": stats}}` (stats = `nodetool_output.TableStats`)."""

    template_fields: Sequence[str] = ("keyspace", "tables")

    def __init__(
        self,
        *,
        keyspace: str = contracts.KEYSPACE,
        tables: Sequence[str] = (
            contracts.TRADES_TABLE,
            contracts.AGGREGATES_TABLE,
            contracts.DEAD_LETTER_TABLE,
        ),
        garbage_collect: bool = True,
        cassandra_conn_id: str = CASSANDRA_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.keyspace = keyspace
        self.tables = list(tables)
        self.garbage_collect = garbage_collect
        self.cassandra_conn_id = cassandra_conn_id

    def execute(self, context: Context) -> dict[str, dict[str, Any]]:
        if not self.tables:
            raise ValueError("tables is empty: name at least one table to compact")
        for name in (self.keyspace, *self.tables):
            if not str(name).isidentifier():
                raise ValueError(f"{name!r} is not a plain CQL identifier")
        nodetool = NodetoolHook(self.cassandra_conn_id)
        report: dict[str, dict[str, Any]] = {}
        for table in self.tables:
            before = nodetool.tablestats(self.keyspace, table)
            if self.garbage_collect:
                nodetool.garbagecollect(self.keyspace, table)
            nodetool.compact(self.keyspace, table)
            after = nodetool.tablestats(self.keyspace, table)
            self.log.info(
                "event=table_compacted table=%s.%s sstables=%d->%d live_bytes=%d->%d total_bytes=%d->%d",
                self.keyspace,
                table,
                before.sstable_count,
                after.sstable_count,
                before.space_used_live_bytes,
                after.space_used_live_bytes,
                before.space_used_total_bytes,
                after.space_used_total_bytes,
            )
            report[table] = {"before": before.as_dict(), "after": after.as_dict()}
        return report
