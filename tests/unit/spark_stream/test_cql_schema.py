"""The migrations in sql/cql agree with the contracts and with the statements the job runs."""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

import pytest

from jobs.spark_stream import cql
from services import contracts

from .conftest import REPO_ROOT

CQL_DIR = REPO_ROOT / "sql" / "cql"


def statement(path: Path) -> str:
    """The file's CQL without `--` comments, whitespace collapsed."""
    text = re.sub(r"--[^\n]*", "", path.read_text())
    return " ".join(text.split())


def table_statement(table: str) -> str:
    (path,) = [
        p
        for p in CQL_DIR.glob("V*.cql")
        if f"CREATE TABLE IF NOT EXISTS {contracts.KEYSPACE}.{table} (" in statement(p)
    ]
    return statement(path)


def columns(table: str) -> set[str]:
    body = table_statement(table).split("(", 1)[1].split("PRIMARY KEY", 1)[0]
    return {definition.split()[0] for definition in body.split(",") if definition.strip()}


def inserted_columns(insert: str) -> set[str]:
    match = re.match(r"INSERT INTO (\w+) \(([^)]*)\)", insert)
    assert match is not None, insert
    return {name.strip() for name in match.group(2).split(",")}


def test_migrations_are_numbered_without_gaps_and_hold_one_statement_each() -> None:
    paths = sorted(CQL_DIR.glob("V*.cql"))
    versions = [int(re.match(r"V(\d{3})__\w+\.cql$", p.name).group(1)) for p in paths]  # type: ignore[union-attr]
    assert versions == list(range(1, len(paths) + 1))
    assert all(statement(p).count(";") == 1 and statement(p).endswith(";") for p in paths)


def test_every_statement_is_idempotent() -> None:
    assert all(" IF NOT EXISTS " in statement(p) for p in CQL_DIR.glob("V*.cql"))


def test_keyspace_replication_is_filled_by_the_runner() -> None:
    text = statement(CQL_DIR / "V001__keyspace.cql")
    filled = Template(text).substitute(replication_factor=3)
    assert f"CREATE KEYSPACE IF NOT EXISTS {contracts.KEYSPACE} " in filled
    assert "'replication_factor': 3}" in filled and "$" not in filled


@pytest.mark.parametrize(
    ("table", "ttl"),
    [
        (contracts.TRADES_TABLE, contracts.TRADES_TTL_SECONDS),
        (contracts.AGGREGATES_TABLE, contracts.AGGREGATES_TTL_SECONDS),
        (contracts.DEAD_LETTER_TABLE, contracts.DEAD_LETTER_TTL_SECONDS),
    ],
)
def test_table_ttl_is_the_contract_value_and_compaction_is_time_windowed(table: str, ttl: int) -> None:
    text = table_statement(table)
    assert f"default_time_to_live = {ttl} " in text
    assert "'class': 'TimeWindowCompactionStrategy'" in text


def test_trades_key_keeps_same_millisecond_trades_apart_by_trade_id() -> None:
    text = table_statement(contracts.TRADES_TABLE)
    assert "PRIMARY KEY ((symbol, trade_year, trade_month, trade_day), timestamp, trade_id)" in text
    assert "CLUSTERING ORDER BY (timestamp DESC, trade_id ASC)" in text


def test_aggregates_key_is_symbol_month_then_newest_window_first() -> None:
    text = table_statement(contracts.AGGREGATES_TABLE)
    assert "PRIMARY KEY ((symbol, trade_year, trade_month), window_start)" in text
    assert "CLUSTERING ORDER BY (window_start DESC)" in text


@pytest.mark.parametrize(
    ("insert", "table"),
    [
        (cql.TRADES_INSERT, contracts.TRADES_TABLE),
        (cql.BAR_UPSERT, contracts.AGGREGATES_TABLE),
        (cql.DEAD_LETTERS_INSERT, contracts.DEAD_LETTER_TABLE),
    ],
)
def test_job_writes_every_column_of_its_tables(insert: str, table: str) -> None:
    assert inserted_columns(insert) == columns(table)
    values = insert.split(" VALUES ", 1)[1].split(")", 1)[0]
    assert values.count("?") == len(columns(table))


@pytest.mark.parametrize(
    ("insert", "partition_key_columns", "table"),
    [
        (cql.TRADES_INSERT, cql.TRADES_PARTITION_KEY_COLUMNS, contracts.TRADES_TABLE),
        (cql.BAR_UPSERT, cql.BARS_PARTITION_KEY_COLUMNS, contracts.AGGREGATES_TABLE),
    ],
)
def test_batched_inserts_lead_with_their_tables_partition_key(
    insert: str, partition_key_columns: int, table: str
) -> None:
    # Rows are grouped into single-partition batches by their leading values: they must be the partition key.
    listed = [name.strip() for name in insert.split("(", 1)[1].split(")", 1)[0].split(",")]
    partition_key = re.search(r"PRIMARY KEY \(\(([^)]*)\)", table_statement(table))
    assert partition_key is not None
    assert listed[:partition_key_columns] == [name.strip() for name in partition_key.group(1).split(",")]
