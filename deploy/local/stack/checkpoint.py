"""The streaming query's checkpoint as the operations tools see it: the last committed batch and its Kafka
offsets (for `make kafka-lag`; read by `finnhub_pipeline.stream_checkpoint`, which the reconciliation shares),
and moving the whole folder aside (for `make reset-checkpoint`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from finnhub_pipeline.stream_checkpoint import (
    CheckpointError,
    CommittedOffsets,
    committed_offsets,
    last_committed_batch,
    local_path,
)
from services import layout

__all__ = [
    "CheckpointError",
    "CommittedOffsets",
    "archive",
    "committed_offsets",
    "job_checkpoint",
    "last_committed_batch",
    "local_path",
]


def job_checkpoint(var_dir: Path, override: str | None = None) -> Path:
    """The checkpoint an operations tool works on: `override` (a path or `file:` URI) when given, else the
    Airflow-run job's (the stack gives stream_supervisor this folder as its `spark_checkpoint_dir`)."""
    if override:
        return local_path(override).resolve()
    return layout.checkpoint_dir(var_dir)


def archive(checkpoint: Path, archive_dir: Path, now: datetime | None = None) -> Path:
    """Moves the checkpoint folder to `<archive_dir>/<name>-<UTC timestamp>` and returns the new path.

    Kept, not deleted: it is the only record of where the old query stopped, and can be moved back.
    """
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = archive_dir / f"{checkpoint.name}-{stamp}"
    if target.exists():
        raise CheckpointError(f"cannot archive {checkpoint}: {target} already exists")
    archive_dir.mkdir(parents=True, exist_ok=True)
    checkpoint.rename(target)
    return target
