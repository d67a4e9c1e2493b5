from __future__ import annotations

import pytest

from finnhub_pipeline.exceptions import NodetoolError
from finnhub_pipeline.nodetool_output import TableStats, parse_tablestats_json

# Shape of Cassandra 5.0's `nodetool tablestats -F json trading.trades_v2`, trimmed, with a JVM warning
# printed before it as nodetool sometimes does.
OUTPUT = """WARN  Only 40.123GiB free across all data volumes.
{
  "total_number_of_tables" : 1,
  "trading" : {
    "write_latency_ms" : 0.31,
    "tables" : {
      "trades_v2" : {
        "sstable_count" : 7,
        "space_used_live" : "123456",
        "space_used_total" : "223456",
        "space_used_by_snapshots_total" : "0",
        "number_of_partitions_estimate" : 42,
        "local_read_latency_ms" : "NaN"
      }
    }
  }
}
"""


def test_tablestats_json_is_parsed_after_leading_noise() -> None:
    assert parse_tablestats_json(OUTPUT, "trading", "trades_v2") == TableStats(
        keyspace="trading",
        table="trades_v2",
        sstable_count=7,
        space_used_live_bytes=123456,
        space_used_total_bytes=223456,
        space_used_by_snapshots_bytes=0,
        partitions_estimate=42,
    )


def test_output_without_the_table_fails_naming_it() -> None:
    with pytest.raises(NodetoolError, match=r"trading\.trade_aggregates: unexpected output"):
        parse_tablestats_json(OUTPUT, "trading", "trade_aggregates")


def test_output_without_json_fails() -> None:
    with pytest.raises(NodetoolError, match="no JSON"):
        parse_tablestats_json("nodetool: Failed to connect to '127.0.0.1:7199'", "trading", "trades_v2")
