"""The checkpoint as `make kafka-lag` and `make reset-checkpoint` read it: Spark's on-disk layout, written
here by hand the way Spark 4 writes it (commits/<batch>, offsets/<batch> with the source's JSON last)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from stack.checkpoint import (
    CheckpointError,
    CommittedOffsets,
    archive,
    committed_offsets,
    last_committed_batch,
    local_path,
)

BATCH_METADATA = '{"batchWatermarkMs":0,"batchTimestampMs":1795549220007,"conf":{}}'


def write_batch(checkpoint: Path, batch_id: int, source: str, committed: bool = True) -> None:
    (checkpoint / "offsets").mkdir(parents=True, exist_ok=True)
    (checkpoint / "commits").mkdir(parents=True, exist_ok=True)
    (checkpoint / "offsets" / str(batch_id)).write_text(f"v1\n{BATCH_METADATA}\n{source}")
    (checkpoint / "offsets" / f".{batch_id}.crc").write_bytes(b"\x00crc")
    if committed:
        (checkpoint / "commits" / str(batch_id)).write_text('v1\n{"nextBatchWatermarkMs":0}')
        (checkpoint / "commits" / f".{batch_id}.crc").write_bytes(b"\x00crc")


def test_resume_position_is_the_offsets_of_the_highest_committed_batch(tmp_path: Path) -> None:
    write_batch(tmp_path, 9, '{"trades":{"0":10,"1":20}}')
    write_batch(tmp_path, 10, '{"trades":{"0":15,"1":31,"2":0}}')
    # Batch 11 is planned (offsets written) but not committed: the job resumes by replaying it.
    write_batch(tmp_path, 11, '{"trades":{"0":99,"1":99,"2":99}}', committed=False)
    assert last_committed_batch(tmp_path) == 10
    assert committed_offsets(tmp_path, "trades") == CommittedOffsets(10, {0: 15, 1: 31, 2: 0})


def test_batch_ids_compare_as_numbers_not_names(tmp_path: Path) -> None:
    write_batch(tmp_path, 9, '{"trades":{"0":1}}')
    write_batch(tmp_path, 100, '{"trades":{"0":2}}')
    assert committed_offsets(tmp_path, "trades") == CommittedOffsets(100, {0: 2})


def test_a_checkpoint_without_commits_has_no_position(tmp_path: Path) -> None:
    assert committed_offsets(tmp_path / "absent", "trades") is None
    write_batch(tmp_path, 0, '{"trades":{"0":5}}', committed=False)
    assert committed_offsets(tmp_path, "trades") is None


def test_offsets_of_another_topic_are_an_error_naming_the_file(tmp_path: Path) -> None:
    write_batch(tmp_path, 3, '{"quotes":{"0":5}}')
    with pytest.raises(CheckpointError, match=r"offsets/3: no offsets for topic 'trades'"):
        committed_offsets(tmp_path, "trades")


def test_garbled_offsets_are_an_error_naming_the_file(tmp_path: Path) -> None:
    write_batch(tmp_path, 3, "{not json")
    with pytest.raises(CheckpointError, match=r"offsets/3: not Kafka source offsets"):
        committed_offsets(tmp_path, "trades")


def test_archive_moves_the_folder_under_a_utc_timestamp(tmp_path: Path) -> None:
    checkpoint = tmp_path / "spark_stream"
    write_batch(checkpoint, 4, '{"trades":{"0":5}}')
    moment = datetime(2026, 11, 24, 10, 0, 5, tzinfo=UTC)
    target = archive(checkpoint, tmp_path / "archive", now=moment)
    assert target == tmp_path / "archive" / "spark_stream-20261124T100005Z"
    assert not checkpoint.exists()
    assert committed_offsets(target, "trades") == CommittedOffsets(4, {0: 5})
    checkpoint.mkdir()
    with pytest.raises(CheckpointError, match="already exists"):
        archive(checkpoint, tmp_path / "archive", now=moment)


def test_local_paths_and_file_uris_are_folders_remote_uris_are_refused() -> None:
    assert local_path("/var/cp") == Path("/var/cp")
    assert local_path("file:///var/cp") == Path("/var/cp")
    with pytest.raises(CheckpointError, match="not on local disk"):
        local_path("s3a://bucket/cp")
