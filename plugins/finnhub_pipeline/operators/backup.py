"""Backs up a keyspace into `<backup_dir>/<UTC time>/` and keeps the newest N (cassandra_backup DAG).

Delegates to `backup.KeyspaceBackup`: snapshot, copy, schema, SHA-256 manifest, clear snapshot, retention.
Restore is `python -m finnhub_pipeline.cli restore` (scripts/restore_cassandra.sh).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator, Context

from finnhub_pipeline.backup import KeyspaceBackup
from finnhub_pipeline.connections import CASSANDRA_CONN_ID
from finnhub_pipeline.hooks.cassandra import PipelineCassandraHook
from finnhub_pipeline.operators._arguments import as_int
from services import contracts


class CassandraBackupOperator(BaseOperator):
    """Returns the backup's path, tables, file count, size and the backups deleted by retention.

    :param keep: how many backups to keep (template, e.g. `variables.CASSANDRA_BACKUP_KEEP.template`)
    :param backup_dir: overrides the connection's `backup_dir` extra
    """

    template_fields: Sequence[str] = ("keyspace", "keep", "backup_dir")

    def __init__(
        self,
        *,
        keyspace: str = contracts.KEYSPACE,
        keep: int | str = 7,
        backup_dir: str | None = None,
        cassandra_conn_id: str = CASSANDRA_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.keyspace = keyspace
        self.keep = keep
        self.backup_dir = backup_dir
        self.cassandra_conn_id = cassandra_conn_id

    def execute(self, context: Context) -> dict[str, object]:
        if not str(self.keyspace).isidentifier():
            raise ValueError(f"keyspace must be a plain CQL identifier, got {self.keyspace!r}")
        keep = as_int("keep", self.keep, 1)
        with PipelineCassandraHook(self.cassandra_conn_id) as cassandra:
            backup = KeyspaceBackup(cassandra, backup_dir=Path(self.backup_dir) if self.backup_dir else None)
            result = backup.backup(self.keyspace, keep)
        self.log.info(
            "event=backup_taken keyspace=%s path=%s files=%d bytes=%d deleted=%s",
            result.keyspace,
            result.path,
            result.files,
            result.bytes,
            ",".join(result.deleted) or "none",
        )
        return result.as_dict()
