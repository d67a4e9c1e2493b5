"""What the pipeline expects of its Cassandra tables, and a readable difference from the live schema.

`expected_tables()` is built from `services.contracts` and the migrations' README; `migrations.py`
reads the live side from the driver's metadata into the same `TableShape`, and `diff` compares the two.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from services import contracts


@dataclass(frozen=True)
class TableShape:
    """The parts of a table that the job and the queries depend on."""

    name: str
    partition_key: tuple[str, ...]
    clustering: tuple[tuple[str, str], ...]  # (column, "ASC" | "DESC")
    default_ttl: int
    columns: Mapping[str, str] = field(default_factory=dict)  # column -> CQL type, e.g. "list<text>"


def expected_tables() -> dict[str, TableShape]:
    """The tables `sql/cql` creates, as the Spark job and the queries need them."""
    tables = [
        TableShape(
            name=contracts.TRADES_TABLE,
            partition_key=("symbol", "trade_year", "trade_month", "trade_day"),
            clustering=(("timestamp", "DESC"), ("trade_id", "ASC")),
            default_ttl=contracts.TRADES_TTL_SECONDS,
            columns={
                "symbol": "text",
                "trade_year": "int",
                "trade_month": "int",
                "trade_day": "int",
                "timestamp": "timestamp",
                "trade_id": "text",
                "price": "double",
                "volume": "double",
                "conditions": "list<text>",
                "received_at": "timestamp",
                "kafka_partition": "int",
                "kafka_offset": "bigint",
                "ingested_at": "timestamp",
            },
        ),
        TableShape(
            name=contracts.AGGREGATES_TABLE,
            partition_key=("symbol", "trade_year", "trade_month"),
            clustering=(("window_start", "DESC"),),
            default_ttl=contracts.AGGREGATES_TTL_SECONDS,
            columns={
                "symbol": "text",
                "trade_year": "int",
                "trade_month": "int",
                "window_start": "timestamp",
                "window_end": "timestamp",
                "open": "double",
                "high": "double",
                "low": "double",
                "close": "double",
                "volume": "double",
                "trade_count": "bigint",
                "vwap": "double",
                "mean_price": "double",
                "stddev_price": "double",
                "first_trade_ts": "timestamp",
                "last_trade_ts": "timestamp",
                "updated_at": "timestamp",
            },
        ),
        TableShape(
            name=contracts.DEAD_LETTER_TABLE,
            partition_key=("source", "day"),
            clustering=(("kafka_topic", "ASC"), ("kafka_partition", "ASC"), ("kafka_offset", "ASC")),
            default_ttl=contracts.DEAD_LETTER_TTL_SECONDS,
            columns={
                "source": "text",
                "day": "date",
                "kafka_topic": "text",
                "kafka_partition": "int",
                "kafka_offset": "bigint",
                "reason": "text",
                "detail": "text",
                "raw": "text",
                "kafka_key": "text",
                "kafka_timestamp": "timestamp",
                "rejected_at": "timestamp",
            },
        ),
    ]
    return {table.name: table for table in tables}


def _keys(clustering: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"{column} {order}" for column, order in clustering) or "(none)"


def diff_table(expected: TableShape, actual: TableShape) -> list[str]:
    """One line per difference of one table, naming the table, the property, and both values."""
    name = expected.name
    lines: list[str] = []
    if actual.partition_key != expected.partition_key:
        lines.append(
            f"{name}: partition key is ({', '.join(actual.partition_key)}), "
            f"expected ({', '.join(expected.partition_key)})"
        )
    if actual.clustering != expected.clustering:
        lines.append(
            f"{name}: clustering is {_keys(actual.clustering)}, expected {_keys(expected.clustering)}"
        )
    if actual.default_ttl != expected.default_ttl:
        lines.append(f"{name}: default_time_to_live is {actual.default_ttl}, expected {expected.default_ttl}")
    for column, cql_type in expected.columns.items():
        live_type = actual.columns.get(column)
        if live_type is None:
            lines.append(f"{name}: column {column} ({cql_type}) is missing")
        elif live_type != cql_type:
            lines.append(f"{name}: column {column} is {live_type}, expected {cql_type}")
    return lines


def diff(keyspace: str, expected: Mapping[str, TableShape], actual: Mapping[str, TableShape]) -> list[str]:
    """Every difference between the expected and the live tables; extra live tables are not drift."""
    lines: list[str] = []
    for name, shape in sorted(expected.items()):
        live = actual.get(name)
        if live is None:
            lines.append(f"{keyspace}.{name}: table is missing")
        else:
            lines.extend(f"{keyspace}.{line}" for line in diff_table(shape, live))
    return lines


def render_drift(keyspace: str, differences: list[str]) -> str:
    return f"schema of keyspace {keyspace} differs from the pipeline's expectation:\n  - " + "\n  - ".join(
        differences
    )
