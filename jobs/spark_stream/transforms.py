"""The transform step: pure DataFrame -> DataFrame functions, Kafka records -> validated trades and dead
letters -> the rows of each table.

No I/O and no clock: the one time the steps need (today, for the retention limit) is a column, the
streaming query's batch date in the job (`main`). `trade_outcomes` is the whole step; the job applies it
once, to the streaming read, so Spark analyses its expressions once rather than every batch.
"""

from __future__ import annotations

from enum import StrEnum

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from services import contracts

DEAD_LETTER_SOURCE = "spark_stream"
MS_PER_DAY = 86_400_000
MALFORMED_COLUMN = "_malformed"
RAW_VALUE_COLUMN, RAW_KEY_COLUMN = "kafka_value", "kafka_key_bytes"
"""The Kafka record's value and key as bytes, through parsing to the dead-letter columns."""

SPARK_TYPES: dict[str, T.DataType] = {
    "int": T.IntegerType(),
    "bigint": T.LongType(),
    "double": T.DoubleType(),
    "string": T.StringType(),
    "array<string>": T.ArrayType(T.StringType()),
}
"""The pyspark type of each Spark SQL type name `contracts.TRADE_RECORD` uses (parsing a DDL string would
need the JVM, so this stays explicit; a new type name in the contract fails here at import, by name)."""


def _spark_type(field: contracts.RecordField) -> T.DataType:
    try:
        return SPARK_TYPES[field.type]
    except KeyError:
        raise ValueError(
            f"contracts.TRADE_RECORD field {field.name!r} has type {field.type!r}, which "
            f"transforms.SPARK_TYPES does not map (known: {', '.join(SPARK_TYPES)})"
        ) from None


TRADE_RECORD_SCHEMA = T.StructType(
    [T.StructField(field.name, _spark_type(field)) for field in contracts.TRADE_RECORD]
    # Spark fills this with the whole text when the value is not JSON or a field has the wrong type.
    + [T.StructField(MALFORMED_COLUMN, T.StringType())]
)
REQUIRED_FIELDS = ("trade_id", "symbol", "trade_ts_ms", "received_at_ms")
"""Besides the version, price and volume, which have reasons of their own. `conditions` may be absent."""


class DeadLetterReason(StrEnum):
    """Why the job rejected a Kafka record; the `reason` column of `dead_letters` and a metric label."""

    MALFORMED_RECORD = "malformed_record"
    UNSUPPORTED_SCHEMA_VERSION = "unsupported_schema_version"
    MISSING_FIELD = "missing_field"
    INVALID_PRICE = "invalid_price"
    INVALID_VOLUME = "invalid_volume"
    OLDER_THAN_RETENTION = "older_than_retention"


def retention_limit(today: Column, ttl_seconds: int = contracts.TRADES_TTL_SECONDS) -> Column:
    """The oldest trade time (epoch ms) `parse_trade_records` accepts on `today` (a date column): the trades
    TTL before the end of that UTC day, the latest the TTL ago can be during it.

    In the job `today` is the batch's date (`current_date()` in a streaming query), which Spark takes from
    the batch's time kept in the checkpoint's offset log, so a replayed batch rejects the same trades. Spark
    writes the date into the Java code it generates for each batch's plan, so the code changes, and is
    compiled again, once a day: a finer time (the batch's timestamp) would compile it every batch.

    Erring on the safe side: a trade up to a day younger than the TTL is dead-lettered (raw payload kept)
    rather than aggregated into a minute whose other trades may have expired.
    """
    end_of_day_ms = (F.unix_date(today).cast("long") + F.lit(1)) * F.lit(MS_PER_DAY)
    return end_of_day_ms - F.lit(ttl_seconds * 1000)


def _not_finite(column: Column) -> Column:
    return column.isNull() | F.isnan(column) | (F.abs(column) == F.lit(float("inf")))


def _day(epoch_ms: Column) -> Column:
    """The UTC calendar date of an epoch-millisecond instant, whatever the session time zone."""
    return F.date_from_unix_date(F.floor(epoch_ms / F.lit(MS_PER_DAY)).cast("int"))


def parse_trade_records(kafka_records: DataFrame, oldest_trade_ts_ms: Column | int | None) -> DataFrame:
    """Parse each Kafka record's JSON value and give it a rejection reason, or none if it is a valid trade.

    Input: the Kafka source's columns (key, value, topic, partition, offset, timestamp). Output: the trade
    fields, `reject_reason`/`reject_detail` (null for a valid trade), the record's value and key as bytes and
    its Kafka coordinates.
    A trade older than `oldest_trade_ts_ms` (`retention_limit`) is rejected: the other trades of its minute
    have already expired from `trades_v2`, so its bar could not be recomputed correctly.
    """
    text = F.col("value").cast("string")
    record = F.from_json(
        text, TRADE_RECORD_SCHEMA, {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": MALFORMED_COLUMN}
    )
    kafka_columns = {
        # The record's bytes, kept as they are: only a dead letter's are made text (`_dead_letter_columns`).
        RAW_VALUE_COLUMN: F.col("value"),
        RAW_KEY_COLUMN: F.col("key"),
        "kafka_topic": F.col("topic"),
        "kafka_partition": F.col("partition"),
        "kafka_offset": F.col("offset"),
        "kafka_timestamp_ms": F.unix_millis(F.col("timestamp")),
    }
    record_projection = [
        record.alias("record"),
        *[column.alias(name) for name, column in kafka_columns.items()],
    ]
    fields_projection = [
        F.col("*"),
        *[F.col(f"record.{name}").alias(name) for name in contracts.TRADE_FIELDS],
    ]

    price, volume, version = F.col("price"), F.col("volume"), F.col("schema_version")
    missing_field = F.coalesce(
        *[
            F.when(F.col(name).isNull() | (F.trim(F.col(name).cast("string")) == ""), F.lit(name))
            for name in REQUIRED_FIELDS
        ]
    )
    too_old = (
        F.col("trade_ts_ms") < F.lit(oldest_trade_ts_ms) if oldest_trade_ts_ms is not None else F.lit(False)
    )
    checks: list[tuple[DeadLetterReason, Column, Column]] = [
        (
            DeadLetterReason.MALFORMED_RECORD,
            F.col("record").isNull() | F.col(f"record.{MALFORMED_COLUMN}").isNotNull(),
            F.lit("value is not a JSON object whose fields have the trade record's types"),
        ),
        (
            DeadLetterReason.UNSUPPORTED_SCHEMA_VERSION,
            version.isNull() | (version != F.lit(contracts.TRADE_SCHEMA_VERSION)),
            F.format_string(
                "schema_version=%s, expected %d",
                F.coalesce(version.cast("string"), F.lit("null")),
                F.lit(contracts.TRADE_SCHEMA_VERSION),
            ),
        ),
        (
            DeadLetterReason.MISSING_FIELD,
            missing_field.isNotNull(),
            F.format_string("field %s is missing or empty", missing_field),
        ),
        (
            DeadLetterReason.INVALID_PRICE,
            _not_finite(price) | (price <= 0),
            F.format_string(
                "price=%s, expected a finite number > 0", F.coalesce(price.cast("string"), F.lit("null"))
            ),
        ),
        (
            DeadLetterReason.INVALID_VOLUME,
            _not_finite(volume) | (volume < 0),
            F.format_string(
                "volume=%s, expected a finite number >= 0", F.coalesce(volume.cast("string"), F.lit("null"))
            ),
        ),
        (
            DeadLetterReason.OLDER_THAN_RETENTION,
            too_old,
            F.format_string(
                "trade_ts_ms=%d is older than the trades retention limit %d",
                F.col("trade_ts_ms"),
                F.lit(oldest_trade_ts_ms),
            ),
        ),
    ]
    reason: Column = F.lit(None).cast("string")
    detail: Column = F.lit(None).cast("string")
    # Built from the last check to the first so the first failing check gives the reason.
    for check_reason, failed, check_detail in reversed(checks):
        reason = F.when(failed, F.lit(check_reason.value)).otherwise(reason)
        detail = F.when(failed, check_detail).otherwise(detail)
    kept = [F.col(name) for name in [*kafka_columns, *contracts.TRADE_FIELDS]]
    return (
        kafka_records.select(*record_projection)
        .select(*fields_projection)
        .select(*kept, reason.alias("reject_reason"), detail.alias("reject_detail"))
    )


def _dead_letter_columns() -> dict[str, Column]:
    return {
        "source": F.lit(DEAD_LETTER_SOURCE),
        "day": _day(F.col("kafka_timestamp_ms")),
        "kafka_topic": F.col("kafka_topic"),
        "kafka_partition": F.col("kafka_partition"),
        "kafka_offset": F.col("kafka_offset"),
        "reason": F.col("reject_reason"),
        "detail": F.col("reject_detail"),
        # Made text for a rejected record only (a trade's row never holds them): cutting and checking every
        # record's payload was a tenth of the executors' time. Bytes that are not UTF-8 become U+FFFD here,
        # as the driver decodes these columns (`batch_rows`).
        "raw": F.coalesce(
            F.make_valid_utf8(
                F.substring(F.col(RAW_VALUE_COLUMN).cast("string"), 1, contracts.MAX_RAW_CHARS)
            ),
            F.lit(""),
        ),
        "kafka_key": F.make_valid_utf8(F.col(RAW_KEY_COLUMN).cast("string")),
        "kafka_timestamp_ms": F.col("kafka_timestamp_ms"),
    }


def _trade_columns() -> dict[str, Column]:
    day = _day(F.col("trade_ts_ms"))
    return {
        "symbol": F.col("symbol"),
        "trade_year": F.year(day),
        "trade_month": F.month(day),
        "trade_day": F.dayofmonth(day),
        "trade_ts_ms": F.col("trade_ts_ms"),
        "trade_id": F.col("trade_id"),
        "price": F.col("price"),
        "volume": F.col("volume"),
        "conditions": F.coalesce(F.col("conditions"), F.array().cast("array<string>")),
        "received_at_ms": F.col("received_at_ms"),
        "kafka_partition": F.col("kafka_partition"),
        "kafka_offset": F.col("kafka_offset"),
    }


SHARED_COLUMNS = ("kafka_partition", "kafka_offset")
"""The columns a trade and a dead letter have in common (the record's place in Kafka)."""


def outcome_rows(parsed: DataFrame) -> DataFrame:
    """Every record of `parse_trade_records`' output as one flat row: a trade (`reason` is null) or a dead
    letter (`reason` is set). Each kind's own columns are null in the other kind's rows; the Kafka
    partition and offset are both's. `cql.TRADE_COLUMNS` and `cql.DEAD_LETTER_COLUMNS` name the columns each
    table's row is made of.

    A trade has UTC date columns; times stay epoch milliseconds (the writer binds them to CQL timestamps as
    such), so no time zone is involved between the producer and Cassandra. A dead letter is keyed by
    (source, day of the Kafka timestamp, topic, partition, offset): it depends only on the record, so
    reprocessing the same records rewrites the same rows. The times of writing (`ingested_at`,
    `rejected_at`) are added by the writer (`cql`).

    Flat rather than a struct per kind: every column is nullable, so the driver collects the batch as one
    Arrow table (`DataFrame.toArrow` refuses a null struct whose fields are not nullable).
    """
    valid = F.col("reject_reason").isNull()
    trade = {
        name: F.when(valid, column).alias(name)
        for name, column in _trade_columns().items()
        if name not in SHARED_COLUMNS
    }
    dead_letter = {
        name: F.when(~valid, column).alias(name)
        for name, column in _dead_letter_columns().items()
        if name not in SHARED_COLUMNS
    }
    return parsed.select(*trade.values(), *[F.col(name) for name in SHARED_COLUMNS], *dead_letter.values())


def trade_outcomes(kafka_records: DataFrame, today: Column) -> DataFrame:
    """The transform step whole: `outcome_rows` of the records parsed with the retention limit of `today`."""
    return outcome_rows(parse_trade_records(kafka_records, oldest_trade_ts_ms=retention_limit(today)))
