"""Valid trades -> trades_v2 rows, touched bar windows and per-batch figures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pyspark.sql import DataFrame, SparkSession

from jobs.spark_stream.transforms import parse_trade_records, touched_windows, trade_batch_stats, trade_rows

from .conftest import KafkaRecords
from .records import encoded

TRADES_V2_KEY = ("symbol", "trade_year", "trade_month", "trade_day", "trade_ts_ms", "trade_id")


def rows_of(kafka_records: KafkaRecords, values: list[bytes], **kwargs: object) -> DataFrame:
    return trade_rows(parse_trade_records(kafka_records(values, **kwargs), None), ingested_at_ms=0)


@pytest.fixture
def new_york_session_time_zone(spark: SparkSession) -> Iterator[None]:
    spark.conf.set("spark.sql.session.timeZone", "America/New_York")
    yield
    spark.conf.set("spark.sql.session.timeZone", "UTC")


def test_same_millisecond_trades_are_both_kept(kafka_records: KafkaRecords) -> None:
    same_ms = 1_672_348_887_196
    values = [
        encoded(symbol="TSLA", trade_id="9a1c-0", trade_ts_ms=same_ms, price=121.97, volume=100),
        encoded(symbol="TSLA", trade_id="9a1c-1", trade_ts_ms=same_ms, price=121.97, volume=100),
    ]
    keys = [tuple(row[c] for c in TRADES_V2_KEY) for row in rows_of(kafka_records, values).collect()]

    assert sorted(keys) == [
        ("TSLA", 2022, 12, 29, same_ms, "9a1c-0"),
        ("TSLA", 2022, 12, 29, same_ms, "9a1c-1"),
    ]


def test_replayed_record_gets_the_same_primary_key(kafka_records: KafkaRecords) -> None:
    value = encoded(trade_id="77aa-3")
    first = rows_of(kafka_records, [value], partition=0, first_offset=5).collect()
    replay = rows_of(kafka_records, [value], partition=0, first_offset=5).collect()

    assert [tuple(r[c] for c in TRADES_V2_KEY) for r in first] == [
        tuple(r[c] for c in TRADES_V2_KEY) for r in replay
    ]


@pytest.mark.parametrize(
    ("trade_ts_ms", "expected_date"),
    [
        (1_704_067_199_999, (2023, 12, 31)),  # 2023-12-31T23:59:59.999Z
        (1_704_067_200_000, (2024, 1, 1)),  # 2024-01-01T00:00:00.000Z
        (1_709_164_800_000, (2024, 2, 29)),  # leap day, 00:00 UTC
        (1_709_251_199_999, (2024, 2, 29)),  # leap day, last millisecond
        (0, (1970, 1, 1)),
        (-1, (1969, 12, 31)),
    ],
)
def test_trade_date_columns_are_the_utc_date_of_the_trade_time(
    kafka_records: KafkaRecords, trade_ts_ms: int, expected_date: tuple[int, int, int]
) -> None:
    (row,) = rows_of(kafka_records, [encoded(trade_ts_ms=trade_ts_ms)]).collect()
    assert (row.trade_year, row.trade_month, row.trade_day) == expected_date


@pytest.mark.usefixtures("new_york_session_time_zone")
def test_trade_date_columns_ignore_the_session_time_zone(kafka_records: KafkaRecords) -> None:
    # 2024-01-01T03:00Z is still 2023-12-31 in New York.
    (row,) = rows_of(kafka_records, [encoded(trade_ts_ms=1_704_078_000_000)]).collect()
    assert (row.trade_year, row.trade_month, row.trade_day) == (2024, 1, 1)


def test_touched_windows_are_the_distinct_minutes_of_each_symbol(kafka_records: KafkaRecords) -> None:
    minute = 1_700_000_040_000  # a whole minute: 2023-11-14T22:14:00Z
    values = [
        encoded(symbol="AAPL", trade_id="a", trade_ts_ms=minute),
        encoded(symbol="AAPL", trade_id="b", trade_ts_ms=minute + 59_999),
        encoded(symbol="AAPL", trade_id="c", trade_ts_ms=minute + 60_000),
        encoded(symbol="MSFT", trade_id="d", trade_ts_ms=minute + 1),
        encoded(symbol="AAPL", trade_id="e", trade_ts_ms=minute - 1),
    ]
    windows = touched_windows(rows_of(kafka_records, values)).collect()

    assert sorted((w.symbol, w.trade_day, w.window_start_ms) for w in windows) == [
        ("AAPL", 14, minute - 60_000),
        ("AAPL", 14, minute),
        ("AAPL", 14, minute + 60_000),
        ("MSFT", 14, minute),
    ]


def test_window_length_that_does_not_divide_a_day_is_refused(kafka_records: KafkaRecords) -> None:
    with pytest.raises(ValueError, match="does not divide a day"):
        touched_windows(rows_of(kafka_records, [encoded()]), window_ms=7_000)


def test_batch_stats_count_trades_before_the_late_threshold(kafka_records: KafkaRecords) -> None:
    threshold = 1_700_000_000_000
    values = [
        encoded(trade_id="early", trade_ts_ms=threshold - 1),
        encoded(trade_id="on-time", trade_ts_ms=threshold),
        encoded(trade_id="new", trade_ts_ms=threshold + 5_000),
    ]
    (stats,) = trade_batch_stats(rows_of(kafka_records, values), threshold, 0, []).collect()

    assert (stats.trade_count, stats.late_count, stats.max_trade_ts_ms) == (3, 1, threshold + 5_000)


def test_batch_stats_have_no_late_trades_before_any_threshold_exists(kafka_records: KafkaRecords) -> None:
    (stats,) = trade_batch_stats(rows_of(kafka_records, [encoded(trade_ts_ms=1)]), None, 0, []).collect()
    assert stats.late_count == 0


def test_batch_stats_latency_buckets_are_cumulative(kafka_records: KafkaRecords) -> None:
    written_at_ms = 1_700_000_010_000
    latencies_s = [0.05, 0.3, 0.3, 2.0, 45.0]
    values = [
        encoded(trade_id=f"t-{i}", received_at_ms=written_at_ms - round(s * 1000))
        for i, s in enumerate(latencies_s)
    ]
    bounds = [0.1, 0.5, 1.0, 10.0]
    (stats,) = trade_batch_stats(rows_of(kafka_records, values), None, written_at_ms, bounds).collect()

    assert [stats[f"latency_le_{i}"] for i in range(len(bounds))] == [1, 3, 3, 4]
    assert stats.latency_sum_seconds == pytest.approx(sum(latencies_s))


def test_batch_stats_count_distinct_symbol_minutes(kafka_records: KafkaRecords) -> None:
    values = [
        encoded(symbol="AAPL", trade_id="1", trade_ts_ms=60_000),
        encoded(symbol="AAPL", trade_id="2", trade_ts_ms=119_999),
        encoded(symbol="MSFT", trade_id="3", trade_ts_ms=60_000),
        encoded(symbol="MSFT", trade_id="4", trade_ts_ms=120_000),
    ]
    (stats,) = trade_batch_stats(rows_of(kafka_records, values), None, 0, []).collect()
    assert stats.window_count == 3


def test_batch_stats_of_a_batch_without_trades_are_zero(kafka_records: KafkaRecords) -> None:
    (stats,) = trade_batch_stats(rows_of(kafka_records, [b"junk"]), 5, 0, [1.0]).collect()
    assert (stats.trade_count, stats.late_count, stats.window_count, stats.max_trade_ts_ms) == (0, 0, 0, None)
    assert (stats.latency_sum_seconds, stats.latency_le_0) == (0.0, 0)
