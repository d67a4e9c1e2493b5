"""`cassandra_writer.RowBinder` binds every column type of the job's tables to the bytes the driver's own
`PreparedStatement.bind` gives, and leaves to it what it does not serialize itself."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
from cassandra import cqltypes
from cassandra.protocol import ColumnMetadata
from cassandra.query import UNSET_VALUE, PreparedStatement

from jobs.spark_stream.cassandra_writer import RowBinder
from services import contracts

from .test_cql_schema import table_statement

PROTOCOL_VERSION = 5

SAMPLES: dict[str, list[Any]] = {
    "text": ["AAPL", "BINANCE:BTCUSDT", "ü-€", ""],
    "int": [2026, 12, -1, 0],
    "bigint": [2**40, 0, -7, 12_345_678_901],
    "double": [187.25, 0.0, 1e-9, 3.0],
    "timestamp": [1_764_000_000_123, 0, 1_764_720_000_000, -1],
    "date": [date(2026, 12, 3), date(1970, 1, 1), date(2026, 1, 31), date(2000, 2, 29)],
    "list<text>": [["@", "T"], [], ["I"], ["12", "37"]],
}
"""Values of each CQL type the job's tables hold, as the job binds them (timestamps as epoch ms)."""


def table_columns(table: str) -> list[tuple[str, str]]:
    """(name, CQL type) of each column of `table`, from its migration."""
    body = table_statement(table).split("(", 1)[1].split("PRIMARY KEY", 1)[0]
    return [tuple(d.split()[:2]) for d in body.split(",") if d.strip()]  # type: ignore[misc]


def driver_type(cql_type: str) -> Any:
    collection = re.fullmatch(r"list<(\w+)>", cql_type)
    if collection:
        return cqltypes.ListType.apply_parameters([driver_type(collection.group(1))])
    return cqltypes._cqltypes[cql_type]  # the driver's table of CQL type names


def statement_over(table: str, routing_columns: int) -> PreparedStatement:
    """A statement binding every column of `table`, as the server would describe it."""
    columns = [
        ColumnMetadata(contracts.KEYSPACE, table, name, driver_type(cql_type))
        for name, cql_type in table_columns(table)
    ]
    return PreparedStatement(
        columns,
        b"id",
        list(range(routing_columns)),
        "INSERT ...",
        contracts.KEYSPACE,
        PROTOCOL_VERSION,
        None,
        None,
    )


JOB_TABLES = [contracts.TRADES_TABLE, contracts.AGGREGATES_TABLE, contracts.DEAD_LETTER_TABLE]


@pytest.mark.parametrize("table", JOB_TABLES)
def test_every_column_type_of_the_job_tables_has_samples(table: str) -> None:
    assert {cql_type for _, cql_type in table_columns(table)} <= SAMPLES.keys()


@pytest.mark.parametrize("table", JOB_TABLES)
@pytest.mark.parametrize("sample", range(4))
def test_a_row_binds_to_the_bytes_and_routing_key_the_driver_gives(table: str, sample: int) -> None:
    statement = statement_over(table, routing_columns=2)
    row = [SAMPLES[cql_type][sample] for _, cql_type in table_columns(table)]

    bound = RowBinder(statement)(row)

    assert bound.values == statement.bind(row).values
    assert bound.routing_key == statement.bind(row).routing_key
    assert bound.prepared_statement is statement


def test_null_and_unset_values_bind_as_the_driver_binds_them() -> None:
    statement = statement_over(contracts.AGGREGATES_TABLE, routing_columns=3)
    row: list[Any] = [SAMPLES[cql_type][0] for _, cql_type in table_columns(contracts.AGGREGATES_TABLE)]
    row[-2], row[-1] = None, UNSET_VALUE

    assert RowBinder(statement)(row).values == statement.bind(row).values


def test_what_the_binder_does_not_serialize_itself_the_driver_binds() -> None:
    statement = statement_over(contracts.TRADES_TABLE, routing_columns=4)
    row: list[Any] = [SAMPLES[cql_type][0] for _, cql_type in table_columns(contracts.TRADES_TABLE)]
    row[4] = datetime(2026, 12, 3, 9, 30, 1, 250_000, tzinfo=UTC)  # a timestamp as a datetime

    assert RowBinder(statement)(row).values == statement.bind(row).values


def test_a_value_of_the_wrong_type_fails_with_the_drivers_message_naming_its_column() -> None:
    statement = statement_over(contracts.TRADES_TABLE, routing_columns=4)
    row: list[Any] = [SAMPLES[cql_type][0] for _, cql_type in table_columns(contracts.TRADES_TABLE)]
    row[1] = "twenty"

    with pytest.raises(TypeError, match='column "trade_year"'):
        RowBinder(statement)(row)
