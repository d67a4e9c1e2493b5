"""`make kafka-lag` (`python -m stack.lag`): how far the streaming job is behind Kafka, each partition's end
offset minus the offset the job committed in its checkpoint. `stream_lag` is the one call a test needs.

Spark's Kafka source commits nothing to a consumer group, so the checkpoint is the only true position.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from services import contracts
from services.kafka_options import KafkaConnection

from .checkpoint import CheckpointError, CommittedOffsets, committed_offsets, job_checkpoint
from .settings import RuntimeSettings

PROGRAM = "kafka-lag"
EXIT_FAILED = 1


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


def topic_watermarks(
    connection: KafkaConnection, topic: str, timeout_s: float = 15
) -> dict[int, tuple[int, int]]:
    """Each partition's (start, end) offsets: the oldest record kept and the next offset to be written."""
    bootstrap_servers = connection.bootstrap_servers
    admin = AdminClient(connection.client_options())
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


def stream_lag(checkpoint: Path, connection: KafkaConnection, topic: str) -> LagReport | None:
    """The job's lag per partition of `topic`; None when the checkpoint has no committed batch yet."""
    committed = committed_offsets(checkpoint, topic)
    if committed is None:
        return None
    return compute_lag(topic, committed, topic_watermarks(connection, topic))


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


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def kafka_lag(connection: KafkaConnection, checkpoint: Path, topic: str, out: TextIO = sys.stdout) -> int:
    """Prints the lag table of the job writing `checkpoint`; the exit status."""
    report = stream_lag(checkpoint, connection, topic)
    if report is None:
        print(f"no committed batch in {_display(checkpoint)} yet: the job has not checkpointed", file=out)
        return 0
    for line in format_lag(report):
        print(line, file=out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.lag", description=__doc__)
    parser.add_argument("--topic", default=contracts.TRADES_TOPIC)
    parser.add_argument("--checkpoint", default=None, help="default: var/checkpoints/spark_stream")
    args = parser.parse_args(argv)
    settings = RuntimeSettings.load_or_exit(PROGRAM)
    try:
        checkpoint = job_checkpoint(settings.var_dir, args.checkpoint)
        return kafka_lag(settings.kafka_connection(), checkpoint, args.topic)
    except (CheckpointError, KafkaOffsetsError) as error:
        print(f"{PROGRAM}: error: {error}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
