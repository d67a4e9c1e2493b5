"""Which hours a reconciliation run checks, and the ranges it refuses (with a reason a person can act on)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from finnhub_pipeline.exceptions import ReconciliationRangeError
from finnhub_pipeline.reconciliation_window import (
    HOUR_MS,
    CheckWindow,
    previous_complete_hour,
    requested_windows,
)

GRACE_MS = 10 * 60_000


def ms(text: str) -> int:
    return round(datetime.fromisoformat(text).timestamp() * 1000)


NOW = ms("2026-05-01T12:34:56+00:00")


def windows(start: str | None, end: str | None, reference: str = "2026-05-01T10:15:00+00:00") -> list[str]:
    found = requested_windows(start, end, reference_ms=ms(reference), now_ms=NOW, late_grace_ms=GRACE_MS)
    return [window.label for window in found]


def test_a_scheduled_run_checks_the_hour_before_its_time_minus_the_grace() -> None:
    assert windows(None, None, "2026-05-01T10:15:00+00:00") == ["2026-05-01T09:00Z"]
    assert windows("", "  ", "2026-05-01T10:15:00+00:00") == ["2026-05-01T09:00Z"]


def test_a_run_within_the_grace_after_the_hour_checks_the_hour_before() -> None:
    # At 10:05 trades of 09:xx may still arrive until 10:10: 09:00 is not complete yet.
    assert windows(None, None, "2026-05-01T10:05:00+00:00") == ["2026-05-01T08:00Z"]


def test_a_requested_range_is_cut_at_hour_boundaries() -> None:
    assert windows("2026-05-01T09:40:00Z", "2026-05-01T11:20:00Z") == [
        "2026-05-01T09:40Z..10:00Z",
        "2026-05-01T10:00Z",
        "2026-05-01T11:00Z..11:20Z",
    ]


def test_an_offset_other_than_utc_is_converted() -> None:
    assert windows("2026-05-01T11:00:00+02:00", "2026-05-01T12:00:00+02:00") == ["2026-05-01T09:00Z"]


@pytest.mark.parametrize(
    ("start", "end", "reason"),
    [
        (
            "yesterday",
            "2026-05-01T10:00:00Z",
            "start must be an ISO-8601 UTC time such as .*, got 'yesterday'",
        ),
        ("2026-05-01T09:00:00", "2026-05-01T10:00:00Z", "start '2026-05-01T09:00:00' has no time zone"),
        ("2026-05-01T09:00:30Z", "2026-05-01T10:00:00Z", r"not on a whole minute.*use 2026-05-01T09:00:00Z"),
        ("2026-05-01T10:00:00Z", "2026-05-01T09:00:00Z", "start 2026-05-01T10:00:00Z must be before end"),
        ("2026-05-01T12:00:00Z", "2026-05-01T13:00:00Z", "end 2026-05-01T13:00:00Z is in the future"),
        ("2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z", "spans 720 hours; at most 168"),
        ("2026-05-01T09:00:00Z", None, "give both start and end.*end is missing"),
        (None, "2026-05-01T09:00:00Z", "give both start and end.*start is missing"),
    ],
)
def test_a_malformed_range_is_refused_naming_the_value(
    start: str | None, end: str | None, reason: str
) -> None:
    with pytest.raises(ReconciliationRangeError, match=reason):
        windows(start, end)


def test_the_range_error_is_a_value_error_and_a_pipeline_error() -> None:
    from finnhub_pipeline.exceptions import PipelineOperationError

    assert issubclass(ReconciliationRangeError, ValueError)
    assert issubclass(ReconciliationRangeError, PipelineOperationError)


def test_a_window_knows_its_partitions_and_its_kafka_read() -> None:
    window = previous_complete_hour(ms("2026-03-01T00:20:00+00:00"), GRACE_MS)

    assert window.label == "2026-02-28T23:00Z"
    assert window.day == (2026, 2, 28) and window.month == (2026, 2)
    assert window.kafka_start_ms() == window.start_ms - 60_000
    assert window.kafka_end_ms(GRACE_MS) == window.end_ms + GRACE_MS
    assert window.contains(window.start_ms) and not window.contains(window.end_ms)


@pytest.mark.parametrize(
    ("start", "end"),
    [(0, HOUR_MS + 60_000), (30_000, 60_000), (60_000, 60_000)],
)
def test_a_window_is_whole_minutes_inside_one_hour(start: int, end: int) -> None:
    with pytest.raises(ValueError, match="check window"):
        CheckWindow(start, end)


def test_iso_is_what_reset_checkpoint_takes() -> None:
    from finnhub_pipeline.reconciliation_window import iso
    from stack.reset_checkpoint import starting_offsets_for

    moment = ms("2026-05-01T08:59:00+00:00")
    assert starting_offsets_for(iso(moment)) == str(moment)
    assert datetime.fromisoformat(iso(moment)).tzinfo is not None
    assert datetime.fromisoformat(iso(moment)) == datetime(2026, 5, 1, 8, 59, tzinfo=UTC)
