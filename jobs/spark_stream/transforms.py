"""Pure DataFrame -> DataFrame steps of the job: Kafka records -> validated trades and dead letters -> rows.

No I/O and no clock: every time the steps need (ingest time, retention limit, late threshold) is an argument.
`sinks.write_batch` strings them together for each micro-batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.spark_stream.bars import BAR_WINDOW_MS
from services import contracts

DEAD_LETTER_SOURCE = "spark_stream"
DEAD_LETTER_TTL_SECONDS = 14 * 24 * 3600
"""default_time_to_live of `dead_letters` (sql/cql/V004__dead_letters.cql); candidate for `contracts`."""
MS_PER_DAY = 86_400_000
MALFORMED_COLUMN = "_malformed"

_FIELD_TYPES: dict[str, T.DataType] = {
    "schema_version": T.IntegerType(),
    "trade_id": T.StringType(),
    "symbol": T.StringType(),
    "price": T.DoubleType(),
    "volume": T.DoubleType(),
    "trade_ts_ms": T.LongType(),
    "conditions": T.ArrayType(T.StringType()),
    "received_at_ms": T.LongType(),
}
TRADE_RECORD_SCHEMA = T.StructType(
    [T.StructField(name, _FIELD_TYPES[name]) for name in contracts.TRADE_FIELDS]
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


def dead_letter_rows(parsed: DataFrame, rejected_at_ms: int) -> DataFrame:
    """Rows for the `dead_letters` table: the rejected records of `parse_trade_records`' output.

    The key (source, day of the Kafka timestamp, topic, partition, offset) depends only on the record, so
    reprocessing the same Kafka records rewrites the same rows.
    """
    return parsed.where(F.col("reject_reason").isNotNull()).select(
        F.lit(DEAD_LETTER_SOURCE).alias("source"),
        _day(F.col("kafka_timestamp_ms")).alias("day"),
        "kafka_topic",
        "kafka_partition",
        "kafka_offset",
        F.col("reject_reason").alias("reason"),
        F.col("reject_detail").alias("detail"),
        F.coalesce(F.col("raw"), F.lit("")).alias("raw"),
        "kafka_key",
        "kafka_timestamp_ms",
        F.lit(rejected_at_ms).cast("long").alias("rejected_at_ms"),
    )


def trade_rows(parsed: DataFrame, ingested_at_ms: int) -> DataFrame:
    """Rows for `trades_v2`: the valid trades of `parse_trade_records`' output, with UTC date columns.

    Times stay epoch milliseconds (the sink binds them to CQL timestamps as such), so no time zone is
    involved anywhere between the producer and Cassandra.
    """
    day = _day(F.col("trade_ts_ms"))
    return parsed.where(F.col("reject_reason").isNull()).select(
        "symbol",
        F.year(day).alias("trade_year"),
        F.month(day).alias("trade_month"),
        F.dayofmonth(day).alias("trade_day"),
        "trade_ts_ms",
        "trade_id",
        "price",
        "volume",
        F.coalesce(F.col("conditions"), F.array().cast("array<string>")).alias("conditions"),
        "received_at_ms",
        "kafka_partition",
        "kafka_offset",
        F.lit(ingested_at_ms).cast("long").alias("ingested_at_ms"),
    )


def _window_start(trade_ts_ms: Column, window_ms: int) -> Column:
    return trade_ts_ms - F.pmod(trade_ts_ms, F.lit(window_ms))


def touched_windows(trades: DataFrame, window_ms: int = BAR_WINDOW_MS) -> DataFrame:
    """The distinct (symbol, trades_v2 partition, window start) that a batch of trade rows falls into.

    A window never spans two UTC days (a day is a whole number of windows), so each window's trades sit in
    one `trades_v2` partition and can be read back with one range query.
    """
    if MS_PER_DAY % window_ms:
        raise ValueError(f"window_ms={window_ms} does not divide a day; a window would span two partitions")
    return trades.select(
        "symbol",
        "trade_year",
        "trade_month",
        "trade_day",
        _window_start(F.col("trade_ts_ms"), window_ms).alias("window_start_ms"),
    ).distinct()


def trade_batch_stats(
    trades: DataFrame,
    late_before_ms: int | None,
    written_at_ms: int,
    latency_bounds_seconds: Sequence[float],
    window_ms: int = BAR_WINDOW_MS,
) -> DataFrame:
    """One row of per-batch figures for the metrics, in one pass over the batch's trade rows.

    Columns: trade_count, max_trade_ts_ms, late_count (trades before `late_before_ms`), window_count,
    latency_sum_seconds and latency_le_<i> (cumulative count of trades whose received -> written latency
    is <= latency_bounds_seconds[i]).
    """
    latency = (F.lit(written_at_ms) - F.col("received_at_ms")) / F.lit(1000.0)
    is_late = F.col("trade_ts_ms") < F.lit(late_before_ms) if late_before_ms is not None else F.lit(False)
    return trades.agg(
        F.count(F.lit(1)).alias("trade_count"),
        F.max("trade_ts_ms").alias("max_trade_ts_ms"),
        F.coalesce(F.sum(is_late.cast("long")), F.lit(0)).alias("late_count"),
        F.count_distinct(F.col("symbol"), _window_start(F.col("trade_ts_ms"), window_ms)).alias(
            "window_count"
        ),
        F.coalesce(F.sum(latency), F.lit(0.0)).alias("latency_sum_seconds"),
        *[
            F.coalesce(F.sum((latency <= F.lit(bound)).cast("long")), F.lit(0)).alias(f"latency_le_{index}")
            for index, bound in enumerate(latency_bounds_seconds)
        ],
    )
