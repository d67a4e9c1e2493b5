"""Which hours a reconciliation run checks: the previous complete hour of a scheduled run, or the hours of a
requested `start`/`end` range, split at hour boundaries, each with the Kafka time range that holds its trades.

Pure: the run's reference time and "now" are arguments. Used by `operators.reconciliation`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from finnhub_pipeline.exceptions import ReconciliationRangeError

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
EARLY_SKEW_MS = MINUTE_MS
"""How long before its trade time a trade may reach Kafka (the producer's clock against the exchange's):
the Kafka read starts this much before the hour."""
MAX_RANGE_HOURS = 7 * 24
"""A range longer than the trades topic's default retention (7 days) could never be checked whole."""
RANGE_EXAMPLE = "2026-05-01T09:00:00Z"


@dataclass(frozen=True)
class CheckWindow:
    """A span of trade time inside one UTC hour (the whole hour, or the part a requested range covers), on
    whole minutes: the trades of `trades_v2` and the bars of `trade_aggregates` in [start_ms, end_ms)."""

    start_ms: int
    end_ms: int

    def __post_init__(self) -> None:
        if not self.start_ms < self.end_ms or self.start_ms // HOUR_MS != (self.end_ms - 1) // HOUR_MS:
            raise ValueError(f"a check window lies inside one hour: {self.start_ms}..{self.end_ms}")
        if self.start_ms % MINUTE_MS or self.end_ms % MINUTE_MS:
            raise ValueError(f"a check window is whole minutes: {self.start_ms}..{self.end_ms}")

    @property
    def hour_start_ms(self) -> int:
        return self.start_ms - self.start_ms % HOUR_MS

    @property
    def day(self) -> tuple[int, int, int]:
        """(year, month, day) in UTC: the `trades_v2` partition of every trade in the window."""
        moment = as_datetime(self.start_ms)
        return moment.year, moment.month, moment.day

    @property
    def month(self) -> tuple[int, int]:
        """(year, month) in UTC: the `trade_aggregates` partition of every bar in the window."""
        return self.day[0], self.day[1]

    def contains(self, trade_ts_ms: int) -> bool:
        return self.start_ms <= trade_ts_ms < self.end_ms

    def kafka_start_ms(self) -> int:
        """Kafka timestamps (the producer's time, about the trade's receive time) from which the window's
        trades are read."""
        return self.start_ms - EARLY_SKEW_MS

    def kafka_end_ms(self, late_grace_ms: int) -> int:
        """Kafka timestamps up to which they are read: trades received up to `late_grace_ms` after the window
        count; a trade received later is not in the read (its row is counted as outside the read)."""
        return self.end_ms + late_grace_ms

    @property
    def label(self) -> str:
        """`2026-05-01T09:00Z` for a whole hour, `2026-05-01T09:10Z..09:40Z` for part of one."""
        start = as_datetime(self.start_ms)
        if self.end_ms - self.start_ms == HOUR_MS:
            return start.strftime("%Y-%m-%dT%H:%MZ")
        return f"{start:%Y-%m-%dT%H:%M}Z..{as_datetime(self.end_ms):%H:%M}Z"


def as_datetime(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)


def iso(epoch_ms: int) -> str:
    """`2026-05-01T09:00:00Z`: the form `make reset-checkpoint FROM=...` and the DAG's params take."""
    return as_datetime(epoch_ms).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_utc(name: str, value: str) -> int:
    """An ISO-8601 time with its zone (`Z` or `+00:00`) on a whole minute, as Unix epoch milliseconds."""
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ReconciliationRangeError(
            f"{name} must be an ISO-8601 UTC time such as {RANGE_EXAMPLE}, got {value!r}"
        ) from None
    if moment.tzinfo is None:
        raise ReconciliationRangeError(
            f"{name} {value!r} has no time zone; write it in UTC with a Z, such as {RANGE_EXAMPLE}"
        )
    epoch_ms = round(moment.timestamp() * 1000)
    if epoch_ms % MINUTE_MS:
        raise ReconciliationRangeError(
            f"{name} {value!r} is not on a whole minute: bars are checked per minute "
            f"(use {iso(epoch_ms - epoch_ms % MINUTE_MS)})"
        )
    return epoch_ms


def previous_complete_hour(reference_ms: int, late_grace_ms: int) -> CheckWindow:
    """The latest hour whose trades have all reached Kafka by `reference_ms`, late ones included: the hour
    ending at or before `reference_ms - late_grace_ms` (at 10:15 with a 10-minute grace: 09:00-10:00)."""
    end_ms = (reference_ms - late_grace_ms) // HOUR_MS * HOUR_MS
    return CheckWindow(end_ms - HOUR_MS, end_ms)


def split_hours(start_ms: int, end_ms: int) -> list[CheckWindow]:
    """[start_ms, end_ms) cut at every hour boundary."""
    windows = []
    cursor = start_ms
    while cursor < end_ms:
        next_hour = cursor - cursor % HOUR_MS + HOUR_MS
        windows.append(CheckWindow(cursor, min(next_hour, end_ms)))
        cursor = next_hour
    return windows


def requested_windows(
    start: str | None, end: str | None, *, reference_ms: int, now_ms: int, late_grace_ms: int
) -> list[CheckWindow]:
    """The windows a run checks: with neither `start` nor `end`, the previous complete hour before
    `reference_ms` (the run's scheduled time); with both, the range [start, end) cut into hours.

    Raises `ReconciliationRangeError` naming the bad value: only one of the two, not ISO-8601 UTC on a whole
    minute, start not before end, end in the future, or longer than MAX_RANGE_HOURS.
    """
    given = {
        name: value.strip() for name, value in (("start", start), ("end", end)) if value and value.strip()
    }
    if not given:
        return [previous_complete_hour(reference_ms, late_grace_ms)]
    if len(given) == 1:
        missing = "end" if "start" in given else "start"
        raise ReconciliationRangeError(
            f"give both start and end (ISO-8601 UTC, such as {RANGE_EXAMPLE}), or neither for the "
            f"previous complete hour; {missing} is missing"
        )
    start_ms, end_ms = parse_utc("start", given["start"]), parse_utc("end", given["end"])
    if start_ms >= end_ms:
        raise ReconciliationRangeError(f"start {given['start']} must be before end {given['end']}")
    if end_ms > now_ms:
        raise ReconciliationRangeError(
            f"end {given['end']} is in the future (now {iso(now_ms - now_ms % 1000)}): the trades of a range "
            "are checked once they have all arrived"
        )
    if end_ms - start_ms > MAX_RANGE_HOURS * HOUR_MS:
        hours = (end_ms - start_ms) / HOUR_MS
        raise ReconciliationRangeError(
            f"the range {given['start']}..{given['end']} spans {hours:.0f} hours; at most {MAX_RANGE_HOURS} "
            "(the trades topic's retention) are checked in one run: split it"
        )
    return split_hours(start_ms, end_ms)


def grace_from_minutes(minutes: int) -> int:
    return int(timedelta(minutes=minutes).total_seconds() * 1000)
