from __future__ import annotations

from pathlib import Path

import pytest

from finnhub_pipeline import migration_plan
from finnhub_pipeline.exceptions import MigrationChecksumError, MigrationError
from finnhub_pipeline.migration_plan import AppliedMigration

ROOT = Path(__file__).resolve().parents[3]


def write(directory: Path, name: str, text: str) -> None:
    (directory / name).write_text(text)


def test_migrations_are_ordered_by_numeric_version_not_by_name(tmp_path: Path) -> None:
    write(tmp_path, "V10__ten.cql", "SELECT 10;")
    write(tmp_path, "V2__two.cql", "SELECT 2;")
    write(tmp_path, "V001__one.cql", "SELECT 1;")
    write(tmp_path, "README.md", "not a migration")
    write(tmp_path, "V3_missing_underscore.cql", "ignored")
    assert [m.filename for m in migration_plan.discover(tmp_path)] == [
        "V001__one.cql",
        "V2__two.cql",
        "V10__ten.cql",
    ]


def test_two_files_with_one_version_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "V1__a.cql", "SELECT 1;")
    write(tmp_path, "V001__b.cql", "SELECT 1;")
    with pytest.raises(MigrationError, match="share version 1"):
        migration_plan.discover(tmp_path)


def test_repository_migrations_render_with_the_replication_factor_and_no_placeholder_left() -> None:
    migrations = migration_plan.discover(ROOT / "sql" / "cql")
    assert migrations[0].version == 1
    rendered = [migration_plan.render(m, 3) for m in migrations]
    assert "'replication_factor': 3" in rendered[0]
    assert all("${" not in text for text in rendered)


def test_render_renames_the_keyspace_for_a_throwaway_copy() -> None:
    migrations = migration_plan.discover(ROOT / "sql" / "cql")
    keyspace, trades = (migration_plan.render(m, 1, "t_abc") for m in migrations[:2])
    assert "CREATE KEYSPACE IF NOT EXISTS t_abc" in keyspace
    assert "CREATE TABLE IF NOT EXISTS t_abc.trades_v2" in trades
    assert "trading." not in trades


def test_rename_keyspace_touches_only_qualified_names() -> None:
    cql = "CREATE TABLE trading.t (trading_day int, x text) WITH comment = 'trading desk'"
    assert migration_plan.rename_keyspace(cql, "trading", "k2") == (
        "CREATE TABLE k2.t (trading_day int, x text) WITH comment = 'trading desk'"
    )


def test_checksum_ignores_windows_line_endings() -> None:
    assert migration_plan.checksum("a;\r\nb;\r\n") == migration_plan.checksum("a;\nb;\n")


def test_pending_skips_applied_migrations_and_keeps_order(tmp_path: Path) -> None:
    for name in ("V1__a.cql", "V2__b.cql", "V3__c.cql"):
        write(tmp_path, name, f"-- {name}\nSELECT 1;")
    migrations = migration_plan.discover(tmp_path)
    applied = {1: AppliedMigration(1, "V1__a.cql", migrations[0].checksum)}
    assert [m.filename for m in migration_plan.pending(migrations, applied)] == ["V2__b.cql", "V3__c.cql"]


def test_a_changed_applied_migration_fails_naming_the_file(tmp_path: Path) -> None:
    write(tmp_path, "V1__keyspace.cql", "CREATE KEYSPACE x;")
    migrations = migration_plan.discover(tmp_path)
    applied = {1: AppliedMigration(1, "V1__keyspace.cql", migration_plan.checksum("the old text"))}
    with pytest.raises(MigrationChecksumError, match=r"V1__keyspace\.cql changed after it was applied"):
        migration_plan.pending(migrations, applied)


def test_an_applied_migration_whose_file_is_gone_fails(tmp_path: Path) -> None:
    write(tmp_path, "V2__b.cql", "SELECT 1;")
    applied = {1: AppliedMigration(1, "V1__a.cql", "0" * 64)}
    with pytest.raises(MigrationChecksumError, match="its file is gone"):
        migration_plan.pending(migration_plan.discover(tmp_path), applied)


def test_a_missing_directory_fails_readably(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match="does not exist"):
        migration_plan.discover(tmp_path / "nope")
