"""Where the streaming query is, read from its checkpoint: the last committed batch and that batch's Kafka end
offsets. Spark alone writes the checkpoint; this only reads its local-disk layout (`commits/<batch>`,
`offsets/<batch>`).

The reconciliation waits on it until the job has written the records it checks; the operations tools
(`stack.checkpoint`: `make kafka-lag`, `make reset-checkpoint`) read it too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from services import layout


class CheckpointError(Exception):
    """The checkpoint exists but cannot be read as a Kafka-source checkpoint; the message names the file."""


@dataclass(frozen=True)
class CommittedOffsets:
    """Where the query resumes: its last committed batch and that batch's end offsets (next to read)."""

    batch_id: int
    offsets: dict[int, int]


def local_path(checkpoint_location: str) -> Path:
    """The folder of a local checkpoint (`file:` URIs too); a remote URI (hdfs://, s3a://) is refused."""
    folder = layout.local_checkpoint_folder(checkpoint_location)
    if folder is None:
        raise CheckpointError(f"checkpoint {checkpoint_location!r} is not on local disk")
    return folder


def last_committed_batch(checkpoint: Path) -> int | None:
    """The highest batch id in `commits/` (Spark writes one file per committed batch), or None."""
    commits = checkpoint / "commits"
    if not commits.is_dir():
        return None
    # Only plain numbers: Hadoop's `.N.crc` side files and `.tmp` leftovers are not commits.
    return max((int(entry.name) for entry in commits.iterdir() if entry.name.isdigit()), default=None)


def committed_offsets(checkpoint: Path, topic: str) -> CommittedOffsets | None:
    """The topic's offsets of the last committed batch; None when no batch was committed yet."""
    batch_id = last_committed_batch(checkpoint)
    if batch_id is None:
        return None
    path = checkpoint / "offsets" / str(batch_id)
    try:
        # Line 1 is the format version, line 2 the batch metadata, then one line per source: ours is last.
        source_line = path.read_text(encoding="utf-8").strip().splitlines()[-1]
        by_topic = json.loads(source_line)
        partitions = by_topic[topic]
        offsets = {int(partition): int(offset) for partition, offset in partitions.items()}
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing, though batch {batch_id} is committed") from None
    except (IndexError, ValueError, TypeError, AttributeError) as error:
        raise CheckpointError(f"{path}: not Kafka source offsets ({error})") from None
    except KeyError:
        raise CheckpointError(f"{path}: no offsets for topic {topic!r}") from None
    return CommittedOffsets(batch_id=batch_id, offsets=offsets)
