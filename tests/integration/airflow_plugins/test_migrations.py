"""CQL migrations and the schema check against the real Cassandra, on throw-away keyspaces."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from finnhub_pipeline.exceptions import MigrationChecksumError, SchemaDriftError
from finnhub_pipeline.operators.migrations import CqlMigrationsOperator
from finnhub_pipeline.operators.schema import SchemaDriftCheckOperator

ROOT = Path(__file__).resolve().parents[3]
MIGRATIONS = ROOT / "sql" / "cql"
ALL_FILES = sorted((p.name for p in MIGRATIONS.glob("V*.cql")), key=lambda n: int(n[1:].split("__")[0]))


def migrate(keyspace: str, directory: Path = MIGRATIONS) -> list[str]:
    operator = CqlMigrationsOperator(
        task_id="migrate", migrations_dir=str(directory), keyspace=keyspace, replication_factor=1
    )
    return operator.execute({})


def test_migrations_build_the_schema_once_and_the_second_run_changes_nothing(
    fresh_keyspace: Callable[[str], str], cassandra_session: object
) -> None:
    keyspace = fresh_keyspace("ks")
    assert migrate(keyspace) == ALL_FILES
    recorded = {
        row.filename: row.checksum
        for row in cassandra_session.execute(f"SELECT filename, checksum FROM {keyspace}.schema_migrations")  # type: ignore[attr-defined]
    }
    assert sorted(recorded) == sorted(ALL_FILES)
    assert all(len(checksum) == 64 for checksum in recorded.values())
    assert migrate(keyspace) == []
    assert SchemaDriftCheckOperator(task_id="check", keyspace=keyspace).execute({}) == [
        "dead_letters",
        "trade_aggregates",
        "trades_v2",
    ]


def test_schema_drift_is_reported_readably(
    fresh_keyspace: Callable[[str], str], cassandra_session: object
) -> None:
    keyspace = fresh_keyspace("ks")
    migrate(keyspace)
    cassandra_session.execute(f"ALTER TABLE {keyspace}.trades_v2 WITH default_time_to_live = 0")  # type: ignore[attr-defined]
    cassandra_session.execute(f"DROP TABLE {keyspace}.dead_letters")  # type: ignore[attr-defined]
    with pytest.raises(SchemaDriftError) as error:
        SchemaDriftCheckOperator(task_id="check", keyspace=keyspace).execute({})
    message = str(error.value)
    assert f"{keyspace}.dead_letters: table is missing" in message
    assert f"{keyspace}.trades_v2: default_time_to_live is 0, expected 2592000" in message


def test_an_edited_applied_migration_fails_naming_the_file(
    fresh_keyspace: Callable[[str], str], tmp_path: Path
) -> None:
    keyspace = fresh_keyspace("ks")
    copy = tmp_path / "cql"
    shutil.copytree(MIGRATIONS, copy)
    migrate(keyspace, copy)
    trades = copy / "V002__trades_v2.cql"
    trades.write_text(trades.read_text().replace("gc_grace_seconds = 86400", "gc_grace_seconds = 3600"))
    with pytest.raises(MigrationChecksumError, match=r"V002__trades_v2\.cql changed after it was applied"):
        migrate(keyspace, copy)


def test_a_new_migration_is_applied_alone(fresh_keyspace: Callable[[str], str], tmp_path: Path) -> None:
    keyspace = fresh_keyspace("ks")
    copy = tmp_path / "cql"
    shutil.copytree(MIGRATIONS, copy)
    migrate(keyspace, copy)
    (copy / "V900__notes.cql").write_text(
        "CREATE TABLE IF NOT EXISTS trading.notes (id int PRIMARY KEY, body text);\n"
    )
    assert migrate(keyspace, copy) == ["V900__notes.cql"]
