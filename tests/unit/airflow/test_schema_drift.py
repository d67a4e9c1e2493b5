from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from finnhub_pipeline import schema_drift
from services import contracts

ROOT = Path(__file__).resolve().parents[3]


def test_identical_schema_has_no_difference() -> None:
    expected = schema_drift.expected_tables()
    assert schema_drift.diff("trading", expected, dict(expected)) == []


def test_reversed_clustering_order_is_reported_with_both_orders() -> None:
    expected = schema_drift.expected_tables()
    live = dict(expected)
    trades = expected[contracts.TRADES_TABLE]
    live[contracts.TRADES_TABLE] = dataclasses.replace(
        trades, clustering=(("timestamp", "ASC"), ("trade_id", "ASC"))
    )
    assert schema_drift.diff("trading", expected, live) == [
        "trading.trades_v2: clustering is timestamp ASC, trade_id ASC, expected timestamp DESC, trade_id ASC"
    ]


def test_missing_table_wrong_ttl_partition_key_and_column_type_are_all_listed() -> None:
    expected = schema_drift.expected_tables()
    aggregates = expected[contracts.AGGREGATES_TABLE]
    live = {
        contracts.AGGREGATES_TABLE: dataclasses.replace(
            aggregates,
            partition_key=("symbol",),
            default_ttl=0,
            columns={**aggregates.columns, "volume": "int"},
        ),
        contracts.DEAD_LETTER_TABLE: expected[contracts.DEAD_LETTER_TABLE],
        "something_else": expected[contracts.DEAD_LETTER_TABLE],
    }
    differences = schema_drift.diff("trading", expected, live)
    assert differences == [
        "trading.trade_aggregates: partition key is (symbol), expected (symbol, trade_year, trade_month)",
        "trading.trade_aggregates: default_time_to_live is 0, expected 7776000",
        "trading.trade_aggregates: column volume is int, expected double",
        "trading.trades_v2: table is missing",
    ]
    rendered = schema_drift.render_drift("trading", differences)
    assert rendered.startswith("schema of keyspace trading differs")
    assert "\n  - trading.trades_v2: table is missing" in rendered


def test_expected_ttls_agree_with_the_cql_migrations() -> None:
    for table in schema_drift.expected_tables().values():
        texts = [
            p.read_text()
            for p in (ROOT / "sql" / "cql").glob("V*.cql")
            if f"trading.{table.name} " in p.read_text()
        ]
        assert texts, f"no migration creates {table.name}"
        ttl = re.search(r"default_time_to_live\s*=\s*(\d+)", texts[0])
        assert ttl is not None and int(ttl.group(1)) == table.default_ttl


def test_dead_letter_ttl_is_the_contracts() -> None:
    # One source: the schema check expects the contract's dead-letter TTL, which the migration sets.
    expected = schema_drift.expected_tables()[contracts.DEAD_LETTER_TABLE]
    assert expected.default_ttl == contracts.DEAD_LETTER_TTL_SECONDS
