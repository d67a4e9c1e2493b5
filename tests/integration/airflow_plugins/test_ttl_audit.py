"""The TTL audit on a fresh keyspace built by the real migrations: passes on good rows, fails on a row
written without TTL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from finnhub_pipeline.exceptions import TtlViolationError
from finnhub_pipeline.operators.migrations import CqlMigrationsOperator
from finnhub_pipeline.operators.ttl_audit import TtlAuditOperator

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def keyspace(fresh_keyspace: Callable[[str], str], cassandra_session: Any) -> str:
    name = fresh_keyspace("ttl")
    CqlMigrationsOperator(
        task_id="migrate", migrations_dir=str(ROOT / "sql" / "cql"), keyspace=name, replication_factor=1
    ).execute({})
    for index in range(20):
        cassandra_session.execute(
            f"INSERT INTO {name}.trades_v2 (symbol, trade_year, trade_month, trade_day, timestamp, trade_id, "
            "price, volume) VALUES (%s, 2026, 11, 24, %s, %s, 1.5, 2.0)",
            (f"S{index % 3}", 1_764_000_000_000 + index, f"t{index}"),
        )
        cassandra_session.execute(
            f"INSERT INTO {name}.trade_aggregates (symbol, trade_year, trade_month, window_start, close) "
            "VALUES (%s, 2026, 11, %s, 1.5)",
            (f"S{index % 3}", 1_764_000_000_000 + index * 60_000),
        )
    return name


def audit(keyspace: str) -> dict[str, Any]:
    return TtlAuditOperator(task_id="audit", keyspace=keyspace, sample_size="100").execute({})


def test_rows_written_with_the_table_default_ttl_pass(keyspace: str) -> None:
    assert audit(keyspace) == {
        "keyspace": keyspace,
        "sampled": {"trade_aggregates": 20, "trades_v2": 20},
        "violations": {},
    }


def test_a_row_written_without_ttl_fails_the_audit(keyspace: str, cassandra_session: Any) -> None:
    cassandra_session.execute(
        f"INSERT INTO {keyspace}.trades_v2 (symbol, trade_year, trade_month, trade_day, timestamp, trade_id, "
        "price) VALUES ('FOREVER', 2026, 11, 24, 1764000000000, 'x', 9.0) USING TTL 0"
    )
    with pytest.raises(TtlViolationError) as error:
        audit(keyspace)
    assert "trades_v2: no_ttl: row (symbol=FOREVER" in str(error.value)
    assert "'trades_v2': {'no_ttl': 1}" in str(error.value)


def test_a_table_whose_default_ttl_drifted_fails_the_audit(keyspace: str, cassandra_session: Any) -> None:
    cassandra_session.execute(f"ALTER TABLE {keyspace}.trade_aggregates WITH default_time_to_live = 86400")
    with pytest.raises(TtlViolationError, match="default_time_to_live is 86400 s, policy is 7776000 s"):
        audit(keyspace)
