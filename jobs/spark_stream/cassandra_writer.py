"""The job's Cassandra access: one session per process, prepared statements, and concurrent execution of
idempotent statements with retries.

The table writers call these on the driver; the module-level holder keeps the session open across batches,
so the job pays for connecting and preparing once. The session itself is built by
`services.cassandra_session`, like every other Cassandra client's.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent
from cassandra.cqltypes import DateType
from cassandra.marshal import int64_pack
from cassandra.query import (
    UNSET_VALUE,
    BatchStatement,
    BatchType,
    BoundStatement,
    PreparedStatement,
)

from services.cassandra_session import CassandraConnection, cassandra_session

log = logging.getLogger(__name__)

BATCH_ROWS = 200
"""Rows per single-partition batch, as `make bench-stream`'s fast writer chooses by measuring (200 and 400
lead its sweep; 50 wrote a batch of 20,000 trades in 1.1-1.3 s, 200 in 0.55-0.65 s). 400 trades stay under
the 64 KiB batch_size_warn_threshold the shipped cassandra.yaml sets (Cassandra's default, 5 KiB, would log
a warning per batch; its default fail threshold, 50 KiB, still holds 200)."""


class CassandraWriteError(RuntimeError):
    """Statements still failing after every attempt; raised so the batch fails."""


@dataclass(frozen=True)
class CassandraTarget:
    """Where the job writes and how hard it pushes; its connection and keyspace key the session
    (`session_for`). The password stays out of its repr (the connection's is hidden)."""

    connection: CassandraConnection
    keyspace: str
    concurrency: int
    """Statements in flight."""
    attempts: int
    """Tries per statement before the batch fails."""


class RowBinder:
    """Binds rows to one prepared statement, as `PreparedStatement.bind` does, at a third of its cost.

    The driver's `bind` builds a column-encryption descriptor for every value (the job encrypts no column)
    and serializes an epoch-millisecond timestamp only after trying it as a `datetime` and as a `date`, two
    caught exceptions per timestamp: about 15 µs a trade row. Building a trade row's batch entry here takes
    about 4 µs (120,000 rows, collector off; 14.8 µs through `bind`). Here
    each column's serializer is chosen once: the driver's own for its CQL type, but for a timestamp, which
    the job always holds as epoch milliseconds (`cql`), the 8-byte packing the driver ends with. A row this
    cannot serialize is bound by the driver's `bind`, which gives its error or its result.
    `tests/unit/spark_stream/test_row_binder.py` holds the bytes equal to the driver's for every CQL type
    the job binds.
    """

    def __init__(self, statement: PreparedStatement) -> None:
        self.statement = statement
        version = statement.protocol_version
        self._serializers = [_serializer(column.type, version) for column in statement.column_metadata]

    def __call__(self, row: Sequence[Any]) -> BoundStatement:
        if len(row) != len(self._serializers):
            return self.statement.bind(row)
        try:
            values = [
                value if value is None or value is UNSET_VALUE else serialize(value)
                for serialize, value in zip(self._serializers, row, strict=True)
            ]
        except Exception:
            # The driver's bind gives the value's error, naming its column, or binds what it accepts.
            return self.statement.bind(row)
        bound = BoundStatement(self.statement)
        bound.raw_values, bound.values = row, values
        return bound


def _serializer(cql_type: Any, protocol_version: int) -> Callable[[Any], bytes]:
    if issubclass(cql_type, DateType):  # CQL timestamp
        return _epoch_ms
    serialize = cql_type.serialize
    return lambda value: serialize(value, protocol_version)


def _epoch_ms(value: int) -> bytes:
    if type(value) is not int:
        raise TypeError("not epoch milliseconds")
    return int64_pack(value)


_lock = threading.Lock()
_sessions: dict[tuple[CassandraConnection, str], Session] = {}
_prepared: dict[tuple[CassandraConnection, str, str], RowBinder] = {}


def session_for(target: CassandraTarget) -> Session:
    """The process's session on `target`'s keyspace, connecting on first use."""
    key = (target.connection, target.keyspace)
    with _lock:
        session = _sessions.get(key)
        if session is None:
            session = cassandra_session(target.connection, target.keyspace)
            _sessions[key] = session
            log.info(
                "event=cassandra_connected hosts=%s keyspace=%s",
                ",".join(target.connection.hosts),
                target.keyspace,
            )
        return session


def prepared(target: CassandraTarget, cql: str) -> RowBinder:
    """`cql` prepared once per process, with its binder; a prepared statement carries the routing key for
    token awareness."""
    key = (target.connection, target.keyspace, cql)
    binder = _prepared.get(key)
    if binder is None:
        statement = session_for(target).prepare(cql)
        statement.is_idempotent = True  # every statement here is an upsert or a read: safe to retry
        binder = RowBinder(statement)
        with _lock:
            _prepared[key] = binder
    return binder


def execute_all(
    target: CassandraTarget, cql: str, params: Sequence[tuple[Any, ...]], table: str
) -> list[Any]:
    """Run `cql` once per parameter tuple, `target.concurrency` at a time; return results in input order.

    Only idempotent statements (upserts, reads) come here, so a failed one is simply run again, up to
    `target.attempts` times with a short backoff. What still fails raises `CassandraWriteError`.
    """
    if not params:
        return []
    bind = prepared(target, cql)
    return _execute_with_retries(target, [(bind(p), ()) for p in params], table)


def execute_batched(
    target: CassandraTarget,
    cql: str,
    params: Sequence[tuple[Any, ...]],
    partition_key_columns: int,
    table: str,
) -> None:
    """Run the upsert `cql` for every parameter tuple, as UNLOGGED batches that each hold rows of one
    Cassandra partition only (the first `partition_key_columns` values), at most BATCH_ROWS rows per batch.

    A single-partition batch is one request, one routing key and one mutation for Cassandra: the same
    writes as one statement per row at a fraction of the cost, with no atomicity cost (no batch log).
    """
    if not params:
        return
    bind = prepared(target, cql)
    by_partition_key: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
    for row in params:
        by_partition_key.setdefault(row[:partition_key_columns], []).append(row)
    batches: list[tuple[Any, tuple[Any, ...]]] = []
    for rows in by_partition_key.values():
        for start in range(0, len(rows), BATCH_ROWS):
            batch = BatchStatement(
                batch_type=BatchType.UNLOGGED, consistency_level=bind.statement.consistency_level
            )
            batch.is_idempotent = True
            for row in rows[start : start + BATCH_ROWS]:
                batch.add(bind(row))
            batches.append((batch, ()))
    _execute_with_retries(target, batches, table)


def _execute_with_retries(
    target: CassandraTarget, statements: Sequence[tuple[Any, tuple[Any, ...]]], table: str
) -> list[Any]:
    session = session_for(target)
    results: list[Any] = [None] * len(statements)
    pending = list(range(len(statements)))
    last_error: BaseException | None = None
    for attempt in range(1, target.attempts + 1):
        outcomes = execute_concurrent(
            session,
            [statements[index] for index in pending],
            concurrency=target.concurrency,
            raise_on_first_error=False,
        )
        failed = []
        for index, (success, result) in zip(pending, outcomes, strict=True):
            if success:
                results[index] = result
            else:
                failed.append(index)
                last_error = result
        if not failed:
            return results
        log.warning(
            "event=cassandra_statements_failed table=%s failed=%d of=%d attempt=%d error=%r",
            table,
            len(failed),
            len(statements),
            attempt,
            last_error,
        )
        pending = failed
        if attempt < target.attempts:
            time.sleep(0.5 * 2 ** (attempt - 1))
    raise CassandraWriteError(
        f"{len(pending)} of {len(statements)} statements on {target.keyspace}.{table} failed after "
        f"{target.attempts} attempts; last error: {last_error!r}"
    )


@atexit.register
def _shutdown() -> None:
    for session in list(_sessions.values()):
        session.cluster.shutdown()
