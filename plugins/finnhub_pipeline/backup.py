"""`KeyspaceBackup`: backs a keyspace up from a nodetool snapshot into a checksummed folder, and restores one.

Backup: snapshot -> copy SSTables to `<backup_dir>/<UTC time>/<table>/` -> schema.cql + backup.json ->
MANIFEST.sha256 -> clear snapshot -> keep the newest N. Restore: verify -> create schema under the target
keyspace -> stage SSTables -> `nodetool import` -> row counts. Needs the node's data directory locally.
CQL goes through `PipelineCassandraHook`, nodetool through `NodetoolHook`, both on the same connection.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cassandra.query import SimpleStatement

from finnhub_pipeline import backup_manifest
from finnhub_pipeline.exceptions import BackupError, RestoreError
from finnhub_pipeline.hooks.cassandra import PipelineCassandraHook
from finnhub_pipeline.hooks.nodetool import NodetoolHook

log = logging.getLogger(__name__)


@dataclass
class BackupResult:
    path: Path
    keyspace: str
    tables: dict[str, int]  # table -> files copied
    files: int
    bytes: int
    deleted: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "keyspace": self.keyspace,
            "tables": self.tables,
            "files": self.files,
            "bytes": self.bytes,
            "deleted_backups": self.deleted,
        }


class KeyspaceBackup:
    """Backup and restore of one keyspace; data and backup directories come from the connection extras."""

    def __init__(
        self,
        cassandra: PipelineCassandraHook,
        data_dir: Path | None = None,
        backup_dir: Path | None = None,
    ) -> None:
        self.cassandra = cassandra
        access = cassandra.node_access()
        self.nodetool = NodetoolHook(cassandra.cassandra_conn_id)
        self.data_dir = data_dir or access.data_dir
        self.backup_dir = backup_dir or access.backup_dir
        if self.backup_dir is None:
            raise BackupError(
                f"connection {cassandra.cassandra_conn_id!r} has no backup_dir extra and none was given"
            )

    # --- backup ---------------------------------------------------------------------------------------
    def backup(self, keyspace: str, keep: int, now: datetime | None = None) -> BackupResult:
        moment = now or datetime.now(UTC)
        name = backup_manifest.backup_name(moment)
        tag = f"airflow-backup-{name}"
        assert self.backup_dir is not None
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        final = self.backup_dir / name
        if final.exists():
            raise BackupError(f"backup {final} already exists")
        # Written under a dot-name and renamed at the end: a crash never leaves a folder that looks complete.
        partial = self.backup_dir / f".{name}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        schema = self._schema(keyspace)
        self.nodetool.snapshot(keyspace, tag)
        try:
            tables = self._copy_snapshot(keyspace, tag, partial)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)  # a half copy is no backup; the error propagates
            raise
        finally:
            self.nodetool.clearsnapshot(keyspace, tag)
        (partial / backup_manifest.SCHEMA).write_text(schema + "\n", encoding="utf-8")
        (partial / backup_manifest.METADATA).write_text(
            json.dumps(
                {
                    "keyspace": keyspace,
                    "created_at": moment.isoformat(),
                    "snapshot_tag": tag,
                    "tables": tables,
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
        files = backup_manifest.write_manifest(partial)
        size = sum(path.stat().st_size for path in partial.rglob("*") if path.is_file())
        partial.rename(final)
        deleted = self.apply_retention(keep)
        log.info("event=backup_done keyspace=%s path=%s files=%d bytes=%d", keyspace, final, files, size)
        return BackupResult(final, keyspace, tables, files, size, deleted)

    def _schema(self, keyspace: str) -> str:
        metadata = self.cassandra.schema_metadata().keyspaces.get(keyspace)
        if metadata is None:
            raise BackupError(f"keyspace {keyspace} does not exist")
        return str(metadata.export_as_string())

    def _copy_snapshot(self, keyspace: str, tag: str, target: Path) -> dict[str, int]:
        if self.data_dir is None:
            raise BackupError(
                f"connection {self.cassandra.cassandra_conn_id!r} has no data_dir extra (the node's data "
                "directory, where nodetool snapshot writes)"
            )
        snapshots = sorted((self.data_dir / keyspace).glob(f"*/snapshots/{tag}"))
        if not snapshots:
            raise BackupError(
                f"snapshot {tag} of keyspace {keyspace} not found under {self.data_dir / keyspace} "
                "(is data_dir the node's data directory?)"
            )
        tables: dict[str, int] = {}
        for snapshot in snapshots:
            table = backup_manifest.table_of_data_dir(snapshot.parent.parent.name)
            destination = target / table
            destination.mkdir(parents=True, exist_ok=True)
            count = 0
            for path in sorted(snapshot.iterdir()):
                if path.is_file():
                    shutil.copy2(path, destination / path.name)
                    count += 1
            tables[table] = count
        return tables

    def apply_retention(self, keep: int) -> list[str]:
        assert self.backup_dir is not None
        names = [path.name for path in self.backup_dir.iterdir() if path.is_dir()]
        doomed = backup_manifest.backups_to_delete(names, keep)
        for name in doomed:
            shutil.rmtree(self.backup_dir / name)
            log.info("event=backup_deleted path=%s keep=%d", self.backup_dir / name, keep)
        return doomed

    # --- restore --------------------------------------------------------------------------------------
    def restore(self, backup: Path, target_keyspace: str | None = None) -> dict[str, object]:
        checked = backup_manifest.verify_manifest(backup)
        metadata = json.loads((backup / backup_manifest.METADATA).read_text(encoding="utf-8"))
        source_keyspace = str(metadata["keyspace"])
        target = target_keyspace or source_keyspace
        schema = (backup / backup_manifest.SCHEMA).read_text(encoding="utf-8")
        session = self.cassandra.get_conn()
        for statement in backup_manifest.schema_statements(schema, source_keyspace, target):
            session.execute(statement)
        log.info("event=restore_schema_created source=%s target=%s", source_keyspace, target)
        counts: dict[str, int] = {}
        for table in sorted(metadata["tables"]):
            counts[table] = self._import_table(backup / table, target, table)
        return {
            "backup": str(backup),
            "source_keyspace": source_keyspace,
            "target_keyspace": target,
            "files_verified": checked,
            "row_counts": counts,
        }

    def _import_table(self, source: Path, keyspace: str, table: str) -> int:
        sstables = [
            path
            for path in sorted(source.iterdir())
            if path.is_file() and path.name not in backup_manifest.SNAPSHOT_EXTRAS
        ]
        if sstables:
            assert self.backup_dir is not None
            # nodetool import moves the files it loads: stage copies, never hand it the backup itself.
            with tempfile.TemporaryDirectory(prefix=".restore-", dir=self.backup_dir) as staging:
                stage = Path(staging) / keyspace / table
                stage.mkdir(parents=True)
                for path in sstables:
                    shutil.copy2(path, stage / path.name)
                try:
                    self.nodetool.import_sstables(keyspace, table, stage)
                except Exception as error:
                    raise RestoreError(
                        f"importing {source} into {keyspace}.{table} failed: {error}"
                    ) from error
        count = self.count_rows(keyspace, table)
        log.info(
            "event=restore_table keyspace=%s table=%s sstable_files=%d rows=%d",
            keyspace,
            table,
            len(sstables),
            count,
        )
        return count

    def count_rows(self, keyspace: str, table: str) -> int:
        """Rows of a table, counted page by page: a server-side COUNT(*) times out on a big table."""
        table_metadata = self.cassandra.schema_metadata().keyspaces[keyspace].tables[table]
        first_key = table_metadata.primary_key[0].name
        statement = SimpleStatement(f'SELECT "{first_key}" FROM {keyspace}.{table}', fetch_size=5000)
        return sum(1 for _ in self.cassandra.get_conn().execute(statement))
