"""The transform step: pure DataFrame -> DataFrame functions, Kafka records -> validated trades and dead
letters -> the rows of each table.

No I/O and no clock: the one time the steps need (the retention limit) is an argument, and
`retention_limit_ms` computes it. `main.transform_and_write` applies them to each micro-batch.

A value that changes every batch must not become a literal of the plan: Spark inlines numeric literals into
the Java code it generates, and code that differs is compiled again (hundreds of ms per batch on 2 cores).
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


RETENTION_LIMIT_STEP_MS = 3_600_000


def retention_limit_ms(now_ms: int, ttl_seconds: int = contracts.TRADES_TTL_SECONDS) -> int:
    """The oldest trade time `parse_trade_records` accepts at `now_ms`: the trades TTL ago, rounded *up* to
    the hour so that the plan's literal (and its generated code) changes once an hour, not every batch.

    Rounding up errs on the safe side: a trade up to an hour younger than the TTL is dead-lettered (raw
    payload kept) rather than aggregated into a minute whose other trades may have expired.
    """
    limit = now_ms - ttl_seconds * 1000
    return -(-limit // RETENTION_LIMIT_STEP_MS) * RETENTION_LIMIT_STEP_MS


def _not_finite(column: Column) -> Column:
    return column.isNull() | F.isnan(column) | (F.abs(column) == F.lit(float("inf")))


def _day(epoch_ms: Column) -> Column:
    """The UTC calendar date of an epoch-millisecond instant, whatever the session time zone."""
    return F.date_from_unix_date(F.floor(epoch_ms / F.lit(MS_PER_DAY)).cast("int"))


def parse_trade_records(kafka_records: DataFrame, oldest_trade_ts_ms: int | None) -> DataFrame:
    """Parse each Kafka record's JSON value and give it a rejection reason, or none if it is a valid trade.

    Input: the Kafka source's columns (key, value, topic, partition, offset, timestamp). Output: the trade
    fields, `reject_reason`/`reject_detail` (null for a valid trade), `raw` and the Kafka coordinates.
    A trade older than `oldest_trade_ts_ms` is rejected: the other trades of its minute have already
    expired from `trades_v2`, so its bar could not be recomputed correctly.
    """
    text = F.col("value").cast("string")
    record = F.from_json(
        text, TRADE_RECORD_SCHEMA, {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": MALFORMED_COLUMN}
    )
    parsed = kafka_records.select(
        record.alias("record"),
        F.substring(text, 1, contracts.MAX_RAW_CHARS).alias("raw"),
        F.col("key").cast("string").alias("kafka_key"),
        F.col("topic").alias("kafka_topic"),
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        F.unix_millis(F.col("timestamp")).alias("kafka_timestamp_ms"),
    ).select("*", *[F.col(f"record.{name}").alias(name) for name in contracts.TRADE_FIELDS])

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
    return parsed.withColumn("reject_reason", reason).withColumn("reject_detail", detail).drop("record")


def _dead_letter_columns() -> list[Column]:
    return [
        F.lit(DEAD_LETTER_SOURCE).alias("source"),
        _day(F.col("kafka_timestamp_ms")).alias("day"),
        F.col("kafka_topic"),
        F.col("kafka_partition"),
        F.col("kafka_offset"),
        F.col("reject_reason").alias("reason"),
        F.col("reject_detail").alias("detail"),
        F.coalesce(F.col("raw"), F.lit("")).alias("raw"),
        F.col("kafka_key"),
        F.col("kafka_timestamp_ms"),
    ]


def _trade_columns() -> list[Column]:
    day = _day(F.col("trade_ts_ms"))
    return [
        F.col("symbol"),
        F.year(day).alias("trade_year"),
        F.month(day).alias("trade_month"),
        F.dayofmonth(day).alias("trade_day"),
        F.col("trade_ts_ms"),
        F.col("trade_id"),
        F.col("price"),
        F.col("volume"),
        F.coalesce(F.col("conditions"), F.array().cast("array<string>")).alias("conditions"),
        F.col("received_at_ms"),
        F.col("kafka_partition"),
        F.col("kafka_offset"),
    ]


def _is_valid() -> Column:
    return F.col("reject_reason").isNull()


def outcome_rows(parsed: DataFrame) -> DataFrame:
    """Every record of `parse_trade_records`' output as either a `trade` or a `dead_letter` (a struct
    column each; the other one is null), so that one pass over a batch can write both tables.

    `trade` holds a `trades_v2` row, with UTC date columns; times stay epoch milliseconds (the writer binds
    them to CQL timestamps as such), so no time zone is involved between the producer and Cassandra.
    `dead_letter` holds a `dead_letters` row, keyed by (source, day of the Kafka timestamp, topic,
    partition, offset): it depends only on the record, so reprocessing the same records rewrites the same
    rows. The times of writing (`ingested_at`, `rejected_at`) are added by the writer (`cql`).
    """
    return parsed.select(
        F.when(_is_valid(), F.struct(*_trade_columns())).alias("trade"),
        F.when(~_is_valid(), F.struct(*_dead_letter_columns())).alias("dead_letter"),
    )
