"""KafkaRecordsHook on the live `trades` topic: ranges read one after another with one consumer each give
exactly their offsets, and offsets for a time are the first records at or after it."""

from __future__ import annotations

import pytest

from finnhub_pipeline.hooks.records import KafkaRecordsHook
from services import contracts

pytestmark = pytest.mark.usefixtures("airflow_connections")


def test_two_ranges_read_in_a_row_give_exactly_their_records() -> None:
    with KafkaRecordsHook() as kafka:
        watermarks = kafka.watermarks(contracts.TRADES_TOPIC)
        holding = {p: (low, high) for p, (low, high) in watermarks.items() if high - low >= 400}
        assert holding, f"the producer has written too little yet: {watermarks}"
        first = {p: (high - 400, high - 200) for p, (_, high) in holding.items()}
        second = {p: (high - 200, high - 100) for p, (_, high) in holding.items()}

        read_first = [(r.partition, r.offset) for r in kafka.read(contracts.TRADES_TOPIC, first)]
        read_second = [(r.partition, r.offset) for r in kafka.read(contracts.TRADES_TOPIC, second)]

    for ranges, read in ((first, read_first), (second, read_second)):
        expected = {(p, offset) for p, (start, end) in ranges.items() for offset in range(start, end)}
        assert sorted(read) == sorted(expected)


def test_offsets_at_a_time_start_at_the_first_record_not_older_than_it() -> None:
    with KafkaRecordsHook() as kafka:
        watermarks = kafka.watermarks(contracts.TRADES_TOPIC)
        partition, (low, high) = max(watermarks.items(), key=lambda item: item[1][1] - item[1][0])
        (middle,) = kafka.read(
            contracts.TRADES_TOPIC, {partition: ((low + high) // 2, (low + high) // 2 + 1)}
        )

        offsets = kafka.offsets_at(contracts.TRADES_TOPIC, middle.timestamp_ms, watermarks)
        (found,) = kafka.read(
            contracts.TRADES_TOPIC, {partition: (offsets[partition], offsets[partition] + 1)}
        )
        future = kafka.offsets_at(contracts.TRADES_TOPIC, 2**62, watermarks)

    assert offsets[partition] <= middle.offset and found.timestamp_ms == middle.timestamp_ms
    assert future == {p: high for p, (_, high) in watermarks.items()}


def test_the_earliest_retained_record_of_each_partition_has_a_timestamp() -> None:
    with KafkaRecordsHook() as kafka:
        watermarks = kafka.watermarks(contracts.TRADES_TOPIC)
        earliest = kafka.earliest_timestamps(contracts.TRADES_TOPIC, watermarks)
        (first,) = kafka.read(contracts.TRADES_TOPIC, {0: (watermarks[0][0], watermarks[0][0] + 1)})

    assert set(earliest) == {p for p, (low, high) in watermarks.items() if low < high}
    assert earliest[0] == first.timestamp_ms
