"""Reads a topic's records by time on the `kafka_default` connection: offsets for a Kafka timestamp, each
partition's earliest retained record, and the records between two offsets.

A Kafka provider hook (`KafkaBaseHook`): the connection's extra is the librdkafka configuration
(`KafkaConnection.client_options()`), to which this hook adds only its consumer's own settings. Partitions are
assigned, never subscribed, and no offset is committed: the group id only satisfies librdkafka.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

from airflow.providers.apache.kafka.hooks.base import KafkaBaseHook
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from finnhub_pipeline.connections import KAFKA_CONN_ID
from finnhub_pipeline.exceptions import KafkaReadError

GROUP_PREFIX = "finnhub-pipeline-reader"
CONSUMER_SETTINGS: dict[str, Any] = {
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    "auto.offset.reset": "earliest",
    "enable.partition.eof": True,
    # Larger fetches than the defaults: the reader goes through an hour of records at once.
    "fetch.max.bytes": 52_428_800,
    "max.partition.fetch.bytes": 10_485_760,
}
BATCH = 10_000


class KafkaRecord(NamedTuple):
    partition: int
    offset: int
    timestamp_ms: int
    value: bytes | None


class KafkaRecordsHook(KafkaBaseHook):
    """A consumer on `kafka_default` for reading ranges of records; close it with `close()` (or `with`).

    :param timeout_s: how long a metadata call may take, and how long a read may go without a record before
        it fails naming the partition
    """

    def __init__(self, kafka_config_id: str = KAFKA_CONN_ID, timeout_s: float = 60) -> None:
        super().__init__(kafka_config_id=kafka_config_id)
        self.timeout_s = timeout_s

    def _get_client(self, config: dict[str, Any]) -> Consumer:
        return Consumer(
            {**config, **CONSUMER_SETTINGS, "group.id": f"{GROUP_PREFIX}-{uuid.uuid4().hex[:12]}"}
        )

    @property
    def consumer(self) -> Consumer:
        return self.get_conn

    def close(self) -> None:
        if "get_conn" in self.__dict__:  # only a consumer that was built
            self.consumer.close()

    def __enter__(self) -> KafkaRecordsHook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def partitions(self, topic: str) -> list[int]:
        metadata = self.consumer.list_topics(topic, timeout=self.timeout_s)
        described = metadata.topics.get(topic)
        if described is None or described.error is not None or not described.partitions:
            raise KafkaReadError(
                f"topic {topic!r} not found: {described.error if described else 'no metadata'}"
            )
        return sorted(described.partitions)

    def watermarks(self, topic: str) -> dict[int, tuple[int, int]]:
        """{partition: (low, high)}: the first retained offset and the next offset to be written."""
        return {
            partition: self.consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=self.timeout_s, cached=False
            )
            for partition in self.partitions(topic)
        }

    def offsets_at(
        self, topic: str, timestamp_ms: int, watermarks: Mapping[int, tuple[int, int]]
    ) -> dict[int, int]:
        """{partition: first offset with a timestamp >= timestamp_ms}; the high watermark when none has."""
        request = [TopicPartition(topic, partition, timestamp_ms) for partition in sorted(watermarks)]
        try:
            found = self.consumer.offsets_for_times(request, timeout=self.timeout_s)
        except KafkaException as error:
            raise KafkaReadError(f"offsets of {topic!r} at {timestamp_ms} ms: {error}") from error
        offsets = {}
        for answer in found:
            if answer.error is not None:
                raise KafkaReadError(
                    f"offset of {topic}[{answer.partition}] at {timestamp_ms} ms: {answer.error}"
                )
            high = watermarks[answer.partition][1]
            offsets[answer.partition] = high if answer.offset < 0 else min(answer.offset, high)
        return offsets

    def earliest_timestamps(self, topic: str, watermarks: Mapping[int, tuple[int, int]]) -> dict[int, int]:
        """{partition: timestamp of its earliest retained record} for the partitions that hold records."""
        holding = {p: (low, high) for p, (low, high) in watermarks.items() if low < high}
        earliest: dict[int, int] = {}
        for record in self._read(topic, holding):
            earliest.setdefault(record.partition, record.timestamp_ms)
            if len(earliest) == len(holding):
                break
        return earliest

    def read(self, topic: str, ranges: Mapping[int, tuple[int, int]]) -> Iterator[KafkaRecord]:
        """Every record with start <= offset < end of each partition's (start, end), the partitions
        interleaved as Kafka delivers them."""
        yield from self._read(topic, {p: r for p, r in ranges.items() if r[0] < r[1]})

    def _read(self, topic: str, ranges: Mapping[int, tuple[int, int]]) -> Iterator[KafkaRecord]:
        if not ranges:
            return
        remaining = dict(ranges)
        assignment = [TopicPartition(topic, p, start) for p, (start, _) in ranges.items()]
        self.consumer.assign(assignment)
        # A partition paused at the end of an earlier read stays paused through unassign and assign.
        self.consumer.resume(assignment)
        last_progress = time.monotonic()
        try:
            while remaining:
                messages = self.consumer.consume(num_messages=BATCH, timeout=1.0)
                if messages:
                    last_progress = time.monotonic()
                for message in messages:
                    partition = message.partition()
                    error = message.error()
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF and partition is not None:
                            # At the high watermark: nothing more to read here (the end was at or below it).
                            remaining.pop(partition, None)
                            continue
                        raise KafkaReadError(f"reading {topic}[{partition}]: {error.str()}")
                    offset = message.offset()
                    if partition is None or partition not in remaining or offset is None:
                        continue
                    end = remaining[partition][1]
                    if offset < end:
                        _, timestamp_ms = message.timestamp()
                        yield KafkaRecord(partition, offset, timestamp_ms, message.value())
                    if offset + 1 >= end:
                        remaining.pop(partition)
                        # Stop fetching past the end while the other partitions are still read.
                        self.consumer.pause([TopicPartition(topic, partition)])
                if time.monotonic() - last_progress > self.timeout_s:
                    stalled = ", ".join(
                        f"{topic}[{p}] up to offset {end}" for p, (_, end) in sorted(remaining.items())
                    )
                    raise KafkaReadError(f"no record for {self.timeout_s:.0f} s while reading {stalled}")
        finally:
            self.consumer.unassign()
