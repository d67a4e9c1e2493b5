"""Kafka records -> trades or dead letters: every record ends up in exactly one of them, with its reason."""

from __future__ import annotations

from datetime import date

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.spark_stream.batch_rows import collect_outcomes
from jobs.spark_stream.cql import DeadLetterRow, TradeRow
from jobs.spark_stream.transforms import (
    DEAD_LETTER_SOURCE,
    MALFORMED_COLUMN,
    TRADE_RECORD_SCHEMA,
    DeadLetterReason,
    outcome_rows,
    parse_trade_records,
    retention_limit,
)
from services import contracts

from .conftest import KafkaRecords, kafka_frame
from .records import MISSING, encoded

RETENTION_LIMIT_MS = 1_690_000_000_000

MALFORMED = {
    "binary": b"\xff\xfe\x00garbage\x80",
    "text": b"not json",
    "array": b"[1, 2]",
    "null": b"null",
    "string": b'"AAPL"',
    "empty": b"",
    "absent": None,
    "truncated": b'{"symbol": "AAPL"',
    "mistyped-price": encoded(price="189.5 USD"),
}
OTHER_VERSIONS = {
    f"version-{v}": encoded(schema_version=v) for v in (contracts.TRADE_SCHEMA_VERSION + 1, 0, None)
} | {"no-version": encoded(schema_version=MISSING)}
BAD_PRICES = {f"price-{p}": encoded(price=p) for p in (float("nan"), float("inf"), -1.0, 0.0, None)} | {
    "no-price": encoded(price=MISSING)
}
BAD_VOLUMES = {f"volume-{v}": encoded(volume=v) for v in (-0.5, float("nan"), float("-inf"), None)} | {
    "no-volume": encoded(volume=MISSING)
}
MISSING_FIELDS = {
    "no-symbol": ("symbol", encoded(symbol=MISSING)),
    "empty-symbol": ("symbol", encoded(symbol="")),
    "blank-symbol": ("symbol", encoded(symbol="  ")),
    "no-trade-id": ("trade_id", encoded(trade_id=MISSING)),
    "null-trade-time": ("trade_ts_ms", encoded(trade_ts_ms=None)),
    "no-received-at": ("received_at_ms", encoded(received_at_ms=MISSING)),
}
ONE_BATCH: dict[str, bytes | None] = (
    MALFORMED | OTHER_VERSIONS | BAD_PRICES | BAD_VOLUMES | {k: v for k, (_, v) in MISSING_FIELDS.items()}
)


def split(records: DataFrame) -> tuple[list[TradeRow], list[DeadLetterRow]]:
    """The records' trades and dead letters as the job's driver collects them."""
    parsed = parse_trade_records(records, oldest_trade_ts_ms=RETENTION_LIMIT_MS)
    trades, dead_letters = collect_outcomes(outcome_rows(parsed))
    assert len(trades) + len(dead_letters) == records.count()  # each record is exactly one of them
    return trades, sorted(dead_letters, key=lambda row: row.kafka_offset)


@pytest.fixture(scope="module")
def one_batch_dead_letters(spark: SparkSession) -> dict[str, DeadLetterRow]:
    """The invalid cases above, parsed together in one batch (one Spark job instead of forty)."""
    cases = list(ONE_BATCH)
    trades, dead_letters = split(kafka_frame(spark, [ONE_BATCH[case] for case in cases], first_offset=0))
    assert trades == []
    return {cases[row.kafka_offset]: row for row in dead_letters}


def only_reason(kafka_records: KafkaRecords, value: bytes | None) -> str:
    trades, dead_letters = split(kafka_records([value]))
    assert trades == []
    assert len(dead_letters) == 1
    return str(dead_letters[0].reason)


def test_valid_record_becomes_one_trade_row_with_every_field(kafka_records: KafkaRecords) -> None:
    trades, dead_letters = split(kafka_records([encoded()], partition=3, first_offset=41))

    assert dead_letters == []
    assert [row._asdict() for row in trades] == [
        {
            "symbol": "AAPL",
            "trade_year": 2023,
            "trade_month": 11,
            "trade_day": 14,  # 1_700_000_000_123 ms is 2023-11-14T22:13:20.123Z
            "trade_ts_ms": 1_700_000_000_123,
            "trade_id": "f00d-0",
            "price": 189.5,
            "volume": 10.0,
            "conditions": ["1", "12"],
            "received_at_ms": 1_700_000_000_200,
            "kafka_partition": 3,
            "kafka_offset": 41,
        }
    ]


@pytest.mark.parametrize("case", MALFORMED)
def test_unparseable_or_mistyped_value_is_dead_lettered_as_malformed(
    one_batch_dead_letters: dict[str, DeadLetterRow], case: str
) -> None:
    assert one_batch_dead_letters[case].reason == DeadLetterReason.MALFORMED_RECORD


@pytest.mark.parametrize("case", OTHER_VERSIONS)
def test_record_of_another_schema_version_is_dead_lettered(
    one_batch_dead_letters: dict[str, DeadLetterRow], case: str
) -> None:
    assert one_batch_dead_letters[case].reason == DeadLetterReason.UNSUPPORTED_SCHEMA_VERSION


@pytest.mark.parametrize("case", BAD_PRICES)
def test_record_with_a_price_that_is_not_positive_and_finite_is_dead_lettered(
    one_batch_dead_letters: dict[str, DeadLetterRow], case: str
) -> None:
    assert one_batch_dead_letters[case].reason == DeadLetterReason.INVALID_PRICE


@pytest.mark.parametrize("case", BAD_VOLUMES)
def test_record_with_a_negative_or_non_finite_volume_is_dead_lettered(
    one_batch_dead_letters: dict[str, DeadLetterRow], case: str
) -> None:
    assert one_batch_dead_letters[case].reason == DeadLetterReason.INVALID_VOLUME


@pytest.mark.parametrize("case", MISSING_FIELDS)
def test_record_missing_a_required_field_is_dead_lettered_naming_it(
    one_batch_dead_letters: dict[str, DeadLetterRow], case: str
) -> None:
    field, _ = MISSING_FIELDS[case]
    row = one_batch_dead_letters[case]
    assert (row.reason, row.detail) == (DeadLetterReason.MISSING_FIELD, f"field {field} is missing or empty")


def test_trade_older_than_the_retention_limit_is_dead_lettered(kafka_records: KafkaRecords) -> None:
    value = encoded(trade_ts_ms=RETENTION_LIMIT_MS - 1)
    assert only_reason(kafka_records, value) == DeadLetterReason.OLDER_THAN_RETENTION


def test_trade_at_the_retention_limit_is_kept(kafka_records: KafkaRecords) -> None:
    trades, _ = split(kafka_records([encoded(trade_ts_ms=RETENTION_LIMIT_MS)]))
    assert [row.trade_ts_ms for row in trades] == [RETENTION_LIMIT_MS]


def test_zero_volume_price_update_is_kept_as_a_trade(kafka_records: KafkaRecords) -> None:
    trades, dead_letters = split(kafka_records([encoded(volume=0)]))
    assert (len(dead_letters), [row.volume for row in trades]) == (0, [0.0])


def test_absent_conditions_become_an_empty_list(kafka_records: KafkaRecords) -> None:
    trades, _ = split(
        kafka_records([encoded(conditions=MISSING), encoded(trade_id="f00d-1", conditions=None)])
    )
    assert [row.conditions for row in trades] == [[], []]


def test_first_failing_check_names_the_reason(kafka_records: KafkaRecords) -> None:
    value = encoded(schema_version=2, price=-1.0, symbol=MISSING)
    assert only_reason(kafka_records, value) == DeadLetterReason.UNSUPPORTED_SCHEMA_VERSION


def test_dead_letter_keeps_the_payload_reason_detail_and_kafka_coordinates(
    kafka_records: KafkaRecords,
) -> None:
    value = encoded(price=-2.5)
    _, dead_letters = split(
        kafka_records([value], partition=2, first_offset=7, kafka_ts_ms=1_700_000_000_000)
    )

    assert [row._asdict() for row in dead_letters] == [
        {
            "source": DEAD_LETTER_SOURCE,
            "day": date(2023, 11, 14),
            "kafka_topic": contracts.TRADES_TOPIC,
            "kafka_partition": 2,
            "kafka_offset": 7,
            "reason": "invalid_price",
            "detail": "price=-2.5, expected a finite number > 0",
            "raw": value.decode(),
            "kafka_key": "AAPL",
            "kafka_timestamp_ms": 1_700_000_000_000,
        }
    ]


def test_dead_letter_of_invalid_utf8_keeps_a_readable_payload(kafka_records: KafkaRecords) -> None:
    _, dead_letters = split(kafka_records([b"ok \xff\xfe ok"]))
    assert dead_letters[0].raw == "ok \ufffd\ufffd ok"


def test_bytes_that_are_not_utf8_in_a_key_or_a_field_never_stop_a_batch(kafka_records: KafkaRecords) -> None:
    # The driver decodes every text column (Arrow); such bytes arrive as U+FFFD instead of failing the batch
    # for ever (Spark would replay it after each restart).
    value = encoded(symbol="AAPL", trade_id="id-1").replace(b'"id-1"', b'"id-\xc3"')
    trades, dead_letters = split(kafka_records([value, b"\xff not json"], key=b"\xfeAAPL"))
    assert [trade.trade_id for trade in trades] == ["id-\ufffd"]
    assert [(d.kafka_key, d.raw) for d in dead_letters] == [("\ufffdAAPL", "\ufffd not json")]


def test_dead_letter_payload_is_cut_at_the_contract_limit(kafka_records: KafkaRecords) -> None:
    _, dead_letters = split(kafka_records([b"x" * (contracts.MAX_RAW_CHARS + 10)]))
    assert dead_letters[0].raw == "x" * contracts.MAX_RAW_CHARS


def test_dead_letter_day_is_the_utc_day_of_the_kafka_timestamp(kafka_records: KafkaRecords) -> None:
    last_ms_of_2023 = 1_704_067_199_999  # 2023-12-31T23:59:59.999Z
    first, second = (
        split(kafka_records([b"junk"], kafka_ts_ms=ts))[1][0].day
        for ts in (last_ms_of_2023, last_ms_of_2023 + 1)
    )
    assert (first, second) == (date(2023, 12, 31), date(2024, 1, 1))


def test_mixed_batch_puts_every_record_in_exactly_one_output(kafka_records: KafkaRecords) -> None:
    values = [
        encoded(trade_id="a-0"),
        b"\x00\x01",
        encoded(trade_id="a-1", price=float("nan")),
        encoded(trade_id="a-2", volume=0.25),
        encoded(trade_id="a-3", schema_version=99),
    ]
    trades, dead_letters = split(kafka_records(values, first_offset=0))

    assert sorted(row.kafka_offset for row in trades) == [0, 3]
    assert [(row.kafka_offset, row.reason) for row in dead_letters] == [
        (1, "malformed_record"),
        (2, "invalid_price"),
        (4, "unsupported_schema_version"),
    ]


def limit_on(spark: SparkSession, today: date, ttl_seconds: int) -> int:
    return int(spark.range(1).select(retention_limit(F.lit(today), ttl_seconds)).first()[0])  # type: ignore[index]


def test_retention_limit_is_the_ttl_before_the_end_of_the_day(spark: SparkSession) -> None:
    end_of_day_ms = 1_700_092_800_000  # 2023-11-16T00:00:00Z
    limit = limit_on(spark, date(2023, 11, 15), ttl_seconds=10)

    assert limit == end_of_day_ms - 10_000
    # So it is never older than the TTL allows at any time of the day, and at most a day younger.
    assert limit >= (end_of_day_ms - 1) - 10_000
    assert limit - (end_of_day_ms - 86_400_000 - 10_000) == 86_400_000


def test_read_schema_has_the_contract_fields_with_their_spark_types_and_then_the_malformed_column() -> None:
    assert [(field.name, field.dataType.simpleString()) for field in TRADE_RECORD_SCHEMA.fields] == [
        *((field.name, field.type) for field in contracts.TRADE_RECORD),
        (MALFORMED_COLUMN, "string"),
    ]
