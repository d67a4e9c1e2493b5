"""Backup -> restore round trip against the real Cassandra and nodetool, into a fresh keyspace."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from finnhub_pipeline import backup_manifest, cli
from finnhub_pipeline.backup import KeyspaceBackup
from finnhub_pipeline.exceptions import BackupVerificationError
from finnhub_pipeline.hooks.cassandra import PipelineCassandraHook
from finnhub_pipeline.operators.backup import CassandraBackupOperator

ROWS = 300


def create_trades(session: Any, keyspace: str) -> None:
    session.execute(
        f"CREATE KEYSPACE {keyspace} WITH replication = "
        "{'class': 'NetworkTopologyStrategy', 'replication_factor': 1}"
    )
    session.execute(
        f"""CREATE TABLE {keyspace}.trades_v2 (
            symbol text, trade_year int, trade_month int, trade_day int, timestamp timestamp,
            trade_id text, price double, volume double, conditions list<text>,
            PRIMARY KEY ((symbol, trade_year, trade_month, trade_day), timestamp, trade_id)
        ) WITH CLUSTERING ORDER BY (timestamp DESC, trade_id ASC) AND default_time_to_live = 2592000"""
    )
    insert = session.prepare(
        f"INSERT INTO {keyspace}.trades_v2 (symbol, trade_year, trade_month, trade_day, timestamp, trade_id, "
        "price, volume, conditions) VALUES (?, 2026, 11, 24, ?, ?, ?, ?, ?)"
    )
    start = datetime(2026, 11, 24, 14, 30, tzinfo=UTC)
    for index in range(ROWS):
        session.execute(
            insert,
            (
                f"SYM{index % 7}",
                start + timedelta(milliseconds=index // 2),
                f"f{index}-{index % 2}",
                100 + index / 100,
                index % 5 / 2,
                ["1", "12"] if index % 3 else [],
            ),
        )


def content_digest(session: Any, keyspace: str) -> tuple[int, str]:
    rows = session.execute(
        f"SELECT symbol, trade_year, trade_month, trade_day, timestamp, trade_id, price, volume, conditions "
        f"FROM {keyspace}.trades_v2"
    )
    lines = sorted(repr(tuple(row)) for row in rows)
    return len(lines), hashlib.sha256("\n".join(lines).encode()).hexdigest()


def test_backup_then_restore_into_a_fresh_keyspace_gives_the_same_rows(
    fresh_keyspace: Callable[[str], str], cassandra_session: Any, tmp_path: Path
) -> None:
    source, target = fresh_keyspace("src"), fresh_keyspace("dst")
    create_trades(cassandra_session, source)
    backup = CassandraBackupOperator(
        task_id="backup", keyspace=source, keep="3", backup_dir=str(tmp_path)
    ).execute({})
    path = Path(str(backup["path"]))
    assert path.parent == tmp_path and backup_manifest.BACKUP_NAME.match(path.name)
    tables = backup["tables"]
    assert isinstance(tables, dict) and list(tables) == ["trades_v2"]
    assert (path / "trades_v2").is_dir() and any((path / "trades_v2").glob("*-Data.db"))
    assert f"CREATE TABLE {source}.trades_v2" in (path / "schema.cql").read_text()
    assert backup_manifest.verify_manifest(path) == backup["files"]

    assert cli.main(["restore", str(path), target]) == 0

    assert content_digest(cassandra_session, target) == content_digest(cassandra_session, source)
    assert content_digest(cassandra_session, target)[0] == ROWS
    cassandra_session.cluster.refresh_schema_metadata()  # the restore ran on another client
    restored = cassandra_session.cluster.metadata.keyspaces[target].tables["trades_v2"]
    assert restored.options["default_time_to_live"] == 2592000
    # The snapshot was cleared: nothing of the backup stays behind in the node's data directory.
    with PipelineCassandraHook() as cassandra:
        data_dir = cassandra.node_access().data_dir
    assert data_dir is not None and not list((data_dir / source).glob("*/snapshots/*"))


def test_a_tampered_backup_is_refused_before_anything_is_created(
    fresh_keyspace: Callable[[str], str], cassandra_session: Any, tmp_path: Path
) -> None:
    source, target = fresh_keyspace("src"), fresh_keyspace("dst")
    create_trades(cassandra_session, source)
    with PipelineCassandraHook() as cassandra:
        backup = KeyspaceBackup(cassandra, backup_dir=tmp_path)
        result = backup.backup(source, keep=3)
        data_file = next((result.path / "trades_v2").glob("*-Data.db"))
        data_file.write_bytes(data_file.read_bytes()[:-1] + b"\x00")
        with pytest.raises(BackupVerificationError, match="checksum differs"):
            backup.restore(result.path, target)
    cassandra_session.cluster.refresh_schema_metadata()
    assert target not in cassandra_session.cluster.metadata.keyspaces


def test_retention_keeps_the_newest_backups(
    fresh_keyspace: Callable[[str], str], cassandra_session: Any, tmp_path: Path
) -> None:
    source = fresh_keyspace("src")
    create_trades(cassandra_session, source)
    (tmp_path / "20200101T000000Z").mkdir()
    (tmp_path / "not-a-backup").mkdir()
    with PipelineCassandraHook() as cassandra:
        result = KeyspaceBackup(cassandra, backup_dir=tmp_path).backup(source, keep=1)
    assert result.deleted == ["20200101T000000Z"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([result.path.name, "not-a-backup"])
    metadata = json.loads((result.path / "backup.json").read_text())
    assert metadata["keyspace"] == source
