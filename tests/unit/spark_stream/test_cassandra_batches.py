"""Single-partition batches: every row written once, each batch within one Cassandra partition and
BATCH_ROWS."""

from __future__ import annotations

from typing import Any

import pytest

from jobs.spark_stream import cassandra_writer
from jobs.spark_stream.cassandra_writer import CassandraTarget
from services.cassandra_session import CassandraConnection

TARGET = CassandraTarget(CassandraConnection(consistency="LOCAL_ONE"), "trading", 8, 1)


class Statement:
    consistency_level = None


class Binder:
    """Stands in for `RowBinder`: a row binds to itself."""

    statement = Statement()

    def __call__(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        return row


class Batch:
    """Records what `execute_batched` puts in each batch."""

    def __init__(self, **options: Any) -> None:
        self.options: dict[str, Any] = options
        self.rows: list[tuple[Any, ...]] = []

    def add(self, bound: tuple[Any, ...]) -> None:
        self.rows.append(bound)


def test_rows_are_grouped_into_batches_of_one_cassandra_partition_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[Batch] = []
    monkeypatch.setattr(cassandra_writer, "BatchStatement", Batch)
    monkeypatch.setattr(cassandra_writer, "prepared", lambda target, cql: Binder())
    monkeypatch.setattr(
        cassandra_writer,
        "_execute_with_retries",
        lambda target, statements, table: sent.extend(batch for batch, _ in statements),
    )
    size = cassandra_writer.BATCH_ROWS
    rows = [("AAPL", 2026, 11, day, i) for day in (1, 2) for i in range(size + 3)] + [
        ("MSFT", 2026, 11, 1, 0)
    ]

    cassandra_writer.execute_batched(TARGET, "INSERT ...", rows, 4, "trades_v2")

    assert sorted(row for batch in sent for row in batch.rows) == sorted(rows)
    assert all(len({row[:4] for row in batch.rows}) == 1 for batch in sent)
    assert sorted(len(batch.rows) for batch in sent) == [1, 3, 3, size, size]
    assert all(batch.options["batch_type"] == cassandra_writer.BatchType.UNLOGGED for batch in sent)
