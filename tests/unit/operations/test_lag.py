"""`make kafka-lag`'s table: end offset minus the offset the job committed, per partition and in total."""

from __future__ import annotations

from stack.checkpoint import CommittedOffsets
from stack.lag import compute_lag, format_lag


def test_lag_is_end_minus_committed_and_a_partition_new_to_the_checkpoint_counts_from_its_start() -> None:
    committed = CommittedOffsets(batch_id=41, offsets={0: 100, 1: 250})
    report = compute_lag("trades", committed, {1: (0, 260), 0: (0, 130), 2: (40, 45)})
    assert [(p.partition, p.end_offset, p.committed_offset, p.lag) for p in report.partitions] == [
        (0, 130, 100, 30),
        (1, 260, 250, 10),
        (2, 45, None, 5),
    ]
    assert report.total_lag == 45
    lines = format_lag(report)
    assert lines[0] == "topic trades, last committed batch 41"
    assert lines[2].split() == ["0", "130", "100", "30"]
    assert lines[4].split() == ["2", "45", "-", "5"]
    assert lines[-1].split() == ["total", "435", "350", "45"]
