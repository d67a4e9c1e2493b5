"""How far the streaming job is behind Kafka: each partition's end offset minus the offset the job committed
in its checkpoint. Used by `make kafka-lag`; `stream_lag` is the one call a sensor or a test needs.

Spark's Kafka source commits nothing to a consumer group, so the checkpoint is the only true position.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from jobs.spark_stream.checkpoint import CommittedOffsets, committed_offsets


class KafkaOffsetsError(Exception):
    """The topic's offsets could not be read; the message names the topic and the brokers."""


@dataclass(frozen=True)
class PartitionLag:
    partition: int
    end_offset: int
    committed_offset: int | None
    """None: the partition is not in the checkpoint yet (new partition); Spark reads it from its start."""
    start_offset: int = 0

    @property
    def lag(self) -> int:
        position = self.start_offset if self.committed_offset is None else self.committed_offset
        return self.end_offset - position


@dataclass(frozen=True)
class LagReport:
    topic: str
    batch_id: int
    partitions: tuple[PartitionLag, ...]

    @property
    def total_lag(self) -> int:
        return sum(partition.lag for partition in self.partitions)

    @property
    def total_end_offset(self) -> int:
        return sum(partition.end_offset for partition in self.partitions)

    @property
    def total_committed_offset(self) -> int:
        return sum(partition.committed_offset or 0 for partition in self.partitions)


def compute_lag(
    topic: str, committed: CommittedOffsets, watermarks: Mapping[int, tuple[int, int]]
) -> LagReport:
    """Pure: `watermarks` maps each partition of the topic to its (start, end) offsets."""
    return LagReport(
        topic=topic,
        batch_id=committed.batch_id,
        partitions=tuple(
            PartitionLag(
                partition=partition,
                end_offset=end,
                committed_offset=committed.offsets.get(partition),
                start_offset=start,
            )
            for partition, (start, end) in sorted(watermarks.items())
        ),
    )


def topic_watermarks(bootstrap_servers: str, topic: str, timeout_s: float = 15) -> dict[int, tuple[int, int]]:
    """Each partition's (start, end) offsets: the oldest record kept and the next offset to be written."""
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    try:
        metadata = admin.list_topics(topic=topic, timeout=timeout_s)
        topic_metadata = metadata.topics.get(topic)
        if topic_metadata is None or topic_metadata.error is not None or not topic_metadata.partitions:
            error = topic_metadata.error if topic_metadata is not None else None
            reason = error.str() if error is not None else "does not exist or has no partitions"
            raise KafkaOffsetsError(f"topic {topic!r} on {bootstrap_servers}: {reason}")
        offsets: dict[int, list[int]] = {partition: [0, 0] for partition in topic_metadata.partitions}
        for index, spec in enumerate((OffsetSpec.earliest(), OffsetSpec.latest())):
            request = {TopicPartition(topic, partition): spec for partition in offsets}
            futures = admin.list_offsets(request, request_timeout=timeout_s)
            for topic_partition, future in futures.items():
                offsets[topic_partition.partition][index] = future.result(timeout=timeout_s).offset
    except KafkaException as error:
        raise KafkaOffsetsError(
            f"cannot read offsets of topic {topic!r} from {bootstrap_servers}: {error.args[0].str()}"
        ) from None
    return {partition: (start, end) for partition, (start, end) in offsets.items()}


def stream_lag(checkpoint: Path, bootstrap_servers: str, topic: str) -> LagReport | None:
    """The job's lag per partition of `topic`; None when the checkpoint has no committed batch yet."""
    committed = committed_offsets(checkpoint, topic)
    if committed is None:
        return None
    return compute_lag(topic, committed, topic_watermarks(bootstrap_servers, topic))


def format_lag(report: LagReport) -> list[str]:
    """A table: one line per partition, then the total."""
    lines = [
        f"topic {report.topic}, last committed batch {report.batch_id}",
        f"{'partition':>9}  {'end offset':>12}  {'committed':>12}  {'lag':>10}",
    ]
    for partition in report.partitions:
        committed = "-" if partition.committed_offset is None else str(partition.committed_offset)
        lines.append(
            f"{partition.partition:>9}  {partition.end_offset:>12}  {committed:>12}  {partition.lag:>10}"
        )
    lines.append(
        f"{'total':>9}  {report.total_end_offset:>12}  {report.total_committed_offset:>12}"
        f"  {report.total_lag:>10}"
    )
    return lines
