"""Valid trades -> trades_v2 rows: keys and UTC date columns."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession

from jobs.spark_stream.batch_rows import REJECTION_COLUMN, collect_outcomes
from jobs.spark_stream.cql import DeadLetterRow, TradeRow
from jobs.spark_stream.transforms import outcome_rows, parse_trade_records

from .conftest import KafkaRecords
from .records import encoded

TRADES_V2_KEY = ("symbol", "trade_year", "trade_month", "trade_day", "trade_ts_ms", "trade_id")


def rows_of(kafka_records: KafkaRecords, values: list[bytes], **kwargs: object) -> list[TradeRow]:
    """The trades of the records, as the job's driver collects them."""
    parsed = parse_trade_records(kafka_records(values, **kwargs), None)
    return collect_outcomes(outcome_rows(parsed)).trades


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
    keys = [tuple(getattr(row, c) for c in TRADES_V2_KEY) for row in rows_of(kafka_records, values)]

    assert sorted(keys) == [
        ("TSLA", 2022, 12, 29, same_ms, "9a1c-0"),
        ("TSLA", 2022, 12, 29, same_ms, "9a1c-1"),
    ]


def test_replayed_record_gets_the_same_primary_key(kafka_records: KafkaRecords) -> None:
    value = encoded(trade_id="77aa-3")
    first = rows_of(kafka_records, [value], partition=0, first_offset=5)
    replay = rows_of(kafka_records, [value], partition=0, first_offset=5)

    assert [tuple(getattr(r, c) for c in TRADES_V2_KEY) for r in first] == [
        tuple(getattr(r, c) for c in TRADES_V2_KEY) for r in replay
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
    (row,) = rows_of(kafka_records, [encoded(trade_ts_ms=trade_ts_ms)])
    assert (row.trade_year, row.trade_month, row.trade_day) == expected_date


@pytest.mark.usefixtures("new_york_session_time_zone")
def test_trade_date_columns_ignore_the_session_time_zone(kafka_records: KafkaRecords) -> None:
    # 2024-01-01T03:00Z is still 2023-12-31 in New York.
    (row,) = rows_of(kafka_records, [encoded(trade_ts_ms=1_704_078_000_000)])
    assert (row.trade_year, row.trade_month, row.trade_day) == (2024, 1, 1)


def test_outcome_rows_hold_every_field_of_both_rows_the_driver_binds(kafka_records: KafkaRecords) -> None:
    columns = outcome_rows(parse_trade_records(kafka_records([encoded()]), None)).columns
    assert set(TradeRow._fields) | set(DeadLetterRow._fields) | {REJECTION_COLUMN} == set(columns)
