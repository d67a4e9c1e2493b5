from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from finnhub_pipeline import backup_manifest
from finnhub_pipeline.exceptions import BackupVerificationError


def make_backup(root: Path) -> Path:
    backup = root / "20260101T020000Z"
    (backup / "trades_v2").mkdir(parents=True)
    (backup / "trades_v2" / "nb-1-big-Data.db").write_bytes(b"\x00\x01sstable")
    (backup / "trades_v2" / "manifest.json").write_text("{}")
    (backup / "schema.cql").write_text("CREATE KEYSPACE trading ...;")
    backup_manifest.write_manifest(backup)
    return backup


def test_manifest_is_sha256sum_format_with_relative_paths(tmp_path: Path) -> None:
    backup = make_backup(tmp_path)
    lines = (backup / "MANIFEST.sha256").read_text().splitlines()
    assert [line.split("  ")[1] for line in lines] == [
        "schema.cql",
        "trades_v2/manifest.json",
        "trades_v2/nb-1-big-Data.db",
    ]
    assert all(len(line.split("  ")[0]) == 64 for line in lines)


def test_an_untouched_backup_verifies(tmp_path: Path) -> None:
    assert backup_manifest.verify_manifest(make_backup(tmp_path)) == 3


def test_a_changed_byte_fails_verification_naming_the_file(tmp_path: Path) -> None:
    backup = make_backup(tmp_path)
    (backup / "trades_v2" / "nb-1-big-Data.db").write_bytes(b"\x00\x02sstable")
    with pytest.raises(BackupVerificationError, match=r"trades_v2/nb-1-big-Data\.db: checksum differs"):
        backup_manifest.verify_manifest(backup)


def test_missing_and_added_files_fail_verification(tmp_path: Path) -> None:
    backup = make_backup(tmp_path)
    (backup / "schema.cql").unlink()
    (backup / "trades_v2" / "stray.db").write_text("x")
    with pytest.raises(BackupVerificationError) as error:
        backup_manifest.verify_manifest(backup)
    assert "schema.cql: missing" in str(error.value)
    assert "trades_v2/stray.db: not in the manifest" in str(error.value)


def test_a_backup_without_manifest_is_incomplete(tmp_path: Path) -> None:
    with pytest.raises(BackupVerificationError, match=r"MANIFEST\.sha256 is missing"):
        backup_manifest.verify_manifest(tmp_path)


def test_retention_deletes_only_the_oldest_backups_beyond_keep() -> None:
    names = [
        "20260103T020000Z",
        "20260101T020000Z",
        "20260104T020000Z",
        "20260102T020000Z",
        ".20260105T020000Z.partial",
        "notes",
        ".restore-abc",
    ]
    assert backup_manifest.backups_to_delete(names, keep=2) == ["20260101T020000Z", "20260102T020000Z"]
    assert backup_manifest.backups_to_delete(names, keep=7) == []


def test_retention_never_deletes_the_newest_backup() -> None:
    with pytest.raises(ValueError, match="keep must be >= 1"):
        backup_manifest.backups_to_delete(["20260101T020000Z"], keep=0)


def test_backup_names_are_utc_and_sort_by_time() -> None:
    moment = datetime(2026, 1, 1, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    assert backup_manifest.backup_name(moment) == "20260101T010405Z"
    assert backup_manifest.backup_name(datetime(2026, 1, 1, tzinfo=UTC)) == "20260101T000000Z"


def test_table_name_comes_from_the_cassandra_data_directory() -> None:
    assert backup_manifest.table_of_data_dir("trades_v2-6f1c2b30a9a311ef8b1d7f4c3e2a1b0c") == "trades_v2"
    with pytest.raises(ValueError):
        backup_manifest.table_of_data_dir("trades_v2")


EXPORT = """CREATE KEYSPACE trading WITH replication = {'class': 'NetworkTopologyStrategy', \
'datacenter1': '1'}  AND durable_writes = true;

CREATE TABLE trading.trades_v2 (
    symbol text,
    trade_id text,
    PRIMARY KEY (symbol, trade_id)
) WITH CLUSTERING ORDER BY (trade_id ASC)
    AND comment = 'trading.desk'
    AND default_time_to_live = 2592000;

CREATE INDEX trades_by_id ON trading.trades_v2 (trade_id);
"""


def test_schema_is_split_renamed_and_made_idempotent() -> None:
    statements = backup_manifest.schema_statements(EXPORT, "trading", "restored")
    assert len(statements) == 3
    assert statements[0].startswith("CREATE KEYSPACE IF NOT EXISTS restored WITH replication")
    assert statements[1].startswith("CREATE TABLE IF NOT EXISTS restored.trades_v2 (")
    assert "default_time_to_live = 2592000" in statements[1]
    assert statements[2] == "CREATE INDEX IF NOT EXISTS trades_by_id ON restored.trades_v2 (trade_id)"
    assert not any(s.endswith(";") for s in statements)
