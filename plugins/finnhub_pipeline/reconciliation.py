"""The reconciliation's comparison, per symbol and check window: the window's trades in Kafka against the rows
of `trades_v2` (nothing missing, nothing extra), and every bar of `trade_aggregates` against the bar
recomputed from those rows with `jobs.spark_stream.bars.compute_bar`, the job's one definition of a bar.

Pure: the operator (`operators.reconciliation`) reads Kafka and Cassandra and hands the records and rows in;
this module decides what differs, and words the summary and the repair advice.

**Which Kafka trades belong to a window.** trades_v2 is partitioned by trade time, Kafka is ordered by its
timestamps (the producer's time, about the trade's receive time). The window's Kafka trades are the valid
trade records (`trade_records.parse_trade`) whose trade time lies in the window, among the records whose
Kafka timestamp lies in [window start - EARLY_SKEW, window end + late grace): the `read_ranges`, offsets per
partition from Kafka's offsets-for-times. A row whose Kafka coordinates (kafka_partition, kafka_offset) lie
outside those offsets (a trade that reached Kafka later than the grace) is counted as outside the read, not
compared: Kafka was not read there.

**Floats are compared exactly.** The job's bar of a minute is the one of that minute's stored trades, built
with `bars.WindowTrades` (batch by batch, or from a read-back); here `compute_bar` gets the same doubles from
`trades_v2` and runs the same `WindowTrades`, whose sums are exact and rounded once (equal to `math.fsum`,
independent of order), so an equal set of trades gives a bit-identical bar and any difference is a real one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import NamedTuple

from finnhub_pipeline.reconciliation_window import CheckWindow, iso
from finnhub_pipeline.trade_records import KafkaTrade
from jobs.spark_stream.bars import BAR_WINDOW_MS, Bar, BarTrade, compute_bar, window_start_ms

DETAILS_SHOWN = 5
"""Differences listed per symbol and window in the summary (all are counted)."""


class StoredTrade(NamedTuple):
    """A `trades_v2` row, as far as the reconciliation reads it."""

    trade_ts_ms: int
    trade_id: str
    price: float
    volume: float
    kafka_partition: int | None
    kafka_offset: int | None


class StoredBar(NamedTuple):
    """A `trade_aggregates` row: its window and its figures (`bar`; vwap None when unset)."""

    window_start_ms: int
    window_end_ms: int
    bar: Bar


class TradeKey(NamedTuple):
    """A trade's identity within its symbol: the clustering key of `trades_v2`."""

    trade_ts_ms: int
    trade_id: str


class BarProblem(StrEnum):
    MISSING = "missing"
    """The window has trades, trade_aggregates has no bar for it."""
    EXTRA = "extra"
    """trade_aggregates has a bar for a minute without trades."""
    DIFFERS = "differs"
    """The stored bar is not the bar of the stored trades."""


@dataclass(frozen=True)
class BarDifference:
    window_start_ms: int
    problem: BarProblem
    fields: tuple[str, ...] = ()
    """For DIFFERS: the fields that differ, as `name stored!=expected`."""

    def describe(self) -> str:
        minute = iso(self.window_start_ms)[11:16]
        if self.problem is BarProblem.DIFFERS:
            return f"bar {minute} differs: {', '.join(self.fields)}"
        return f"bar {minute} {self.problem.value}"


class ReadRange(NamedTuple):
    """The offsets read from one Kafka partition: [start, end)."""

    start: int
    end: int

    def holds(self, offset: int) -> bool:
        return self.start <= offset < self.end


@dataclass(frozen=True)
class SymbolResult:
    """What one symbol's trades and bars of one window look like against Kafka."""

    symbol: str
    window: CheckWindow
    kafka_trades: int
    stored_trades: int
    missing: tuple[TradeKey, ...] = ()
    """In Kafka, not in trades_v2."""
    extra: tuple[TradeKey, ...] = ()
    """In trades_v2 with Kafka coordinates inside the read, but no such trade in Kafka."""
    outside_read: int = 0
    """Rows whose Kafka coordinates lie outside the read (they reached Kafka after the grace): unchecked."""
    bars_checked: int = 0
    bar_differences: tuple[BarDifference, ...] = ()
    kafka_minutes: frozenset[int] = frozenset()
    """Window starts of the minutes with trades in Kafka: a replay recomputes their bars."""

    @property
    def replay_repairs(self) -> bool:
        """A replay from before the window fixes something here: it rewrites each missing trade, and
        recomputes the bar of every minute with a trade in Kafka (a missing, extra or wrong bar there)."""
        return bool(self.missing) or any(
            d.window_start_ms in self.kafka_minutes for d in self.bar_differences
        )

    @property
    def replay_leaves(self) -> bool:
        """Some difference stays after a replay, which deletes nothing and touches only minutes with trades
        in Kafka: an extra row, or a bar of a minute Kafka has no trade in."""
        return bool(self.extra) or any(
            d.window_start_ms not in self.kafka_minutes for d in self.bar_differences
        )

    @property
    def wrong_bars(self) -> int:
        return len(self.bar_differences)

    @property
    def differences(self) -> int:
        return len(self.missing) + len(self.extra) + self.wrong_bars

    def describe(self) -> str:
        """One paragraph: the counts, then the first differences of each kind."""
        head = (
            f"{self.symbol} {self.window.label}: {len(self.missing)} missing trade(s), {len(self.extra)} "
            f"extra row(s), {self.wrong_bars} wrong bar(s) ({self.kafka_trades} trades in Kafka, "
            f"{self.stored_trades} rows, {self.bars_checked} bars)"
        )
        lines = [head]
        for kind, keys in (("missing", self.missing), ("extra", self.extra)):
            lines += [
                f"    {kind} trade {iso(key.trade_ts_ms)} {key.trade_id}" for key in keys[:DETAILS_SHOWN]
            ]
            if len(keys) > DETAILS_SHOWN:
                lines.append(f"    ... and {len(keys) - DETAILS_SHOWN} more {kind} trades")
        lines += [f"    {diff.describe()}" for diff in self.bar_differences[:DETAILS_SHOWN]]
        if self.wrong_bars > DETAILS_SHOWN:
            lines.append(f"    ... and {self.wrong_bars - DETAILS_SHOWN} more wrong bars")
        return "\n".join(lines)


class WindowStatus(StrEnum):
    CHECKED = "checked"
    BEYOND_KAFKA_RETENTION = "beyond_kafka_retention"
    """Kafka's earliest retained record is younger than the window's start: its trades may be gone."""
    BEYOND_TRADES_TTL = "beyond_trades_ttl"
    """The window's rows have expired (or are about to) from trades_v2."""


@dataclass(frozen=True)
class WindowReport:
    window: CheckWindow
    status: WindowStatus
    results: tuple[SymbolResult, ...] = ()
    kafka_records: int = 0
    """Records read from Kafka for the window (all symbols, valid or not, any trade time)."""
    rejected_records: int = 0
    """Of those, the ones the job dead-letters instead of storing."""
    detail: str = ""

    @property
    def differing(self) -> tuple[SymbolResult, ...]:
        return tuple(result for result in self.results if result.differences)


def compare_trades(
    kafka_trades: Iterable[KafkaTrade], rows: Iterable[StoredTrade], read_ranges: Mapping[int, ReadRange]
) -> tuple[tuple[TradeKey, ...], tuple[TradeKey, ...], int]:
    """(missing, extra, rows outside the read) for one symbol and window.

    Keys, not records, are compared: the producer may send one trade twice with the same trade_id, and the
    job keeps it once (the second upsert rewrites the row, with the second record's coordinates).
    """
    expected = {TradeKey(trade.trade_ts_ms, trade.trade_id) for trade in kafka_trades}
    stored: set[TradeKey] = set()
    extra: list[TradeKey] = []
    outside = 0
    for row in rows:
        key = TradeKey(row.trade_ts_ms, row.trade_id)
        stored.add(key)
        if key in expected:
            continue
        read = read_ranges.get(row.kafka_partition) if row.kafka_partition is not None else None
        if read is not None and row.kafka_offset is not None and read.holds(row.kafka_offset):
            extra.append(key)
        else:
            outside += 1
    missing = sorted(expected - stored)
    return tuple(missing), tuple(sorted(extra)), outside


def expected_bars(rows: Iterable[StoredTrade]) -> dict[int, Bar]:
    """The bar of every minute that has rows, by window start, as the job computes it."""
    by_window: dict[int, list[BarTrade]] = defaultdict(list)
    for row in rows:
        by_window[window_start_ms(row.trade_ts_ms)].append(
            BarTrade(row.trade_ts_ms, row.trade_id, row.price, row.volume)
        )
    return {start: compute_bar(trades) for start, trades in by_window.items()}


def _differing_fields(stored: StoredBar, expected: Bar) -> tuple[str, ...]:
    found = []
    if stored.window_end_ms != stored.window_start_ms + BAR_WINDOW_MS:
        found.append(f"window_end {iso(stored.window_end_ms)}!={iso(stored.window_start_ms + BAR_WINDOW_MS)}")
    for bar_field in fields(Bar):
        name = bar_field.name
        have, want = getattr(stored.bar, name), getattr(expected, name)
        if have != want:
            found.append(f"{name} {have!r}!={want!r}")
    return tuple(found)


def compare_bars(expected: Mapping[int, Bar], stored_bars: Iterable[StoredBar]) -> tuple[BarDifference, ...]:
    """Every stored bar of a window against the bars recomputed from its rows (`expected_bars`): missing,
    extra, differing."""
    stored = {bar.window_start_ms: bar for bar in stored_bars}
    differences = []
    for start in sorted(expected.keys() | stored.keys()):
        if start not in stored:
            differences.append(BarDifference(start, BarProblem.MISSING))
        elif start not in expected:
            differences.append(BarDifference(start, BarProblem.EXTRA))
        elif changed := _differing_fields(stored[start], expected[start]):
            differences.append(BarDifference(start, BarProblem.DIFFERS, changed))
    return tuple(differences)


def compare_symbol(
    symbol: str,
    window: CheckWindow,
    kafka_trades: Sequence[KafkaTrade],
    rows: Sequence[StoredTrade],
    stored_bars: Sequence[StoredBar],
    read_ranges: Mapping[int, ReadRange],
) -> SymbolResult:
    """One symbol's window: `kafka_trades` of the window (trade time inside it), `rows` of trades_v2 and
    `stored_bars` of trade_aggregates with trade time / window start inside it."""
    missing, extra, outside = compare_trades(kafka_trades, rows, read_ranges)
    expected = expected_bars(rows)
    bar_differences = compare_bars(expected, stored_bars)
    return SymbolResult(
        symbol=symbol,
        window=window,
        kafka_trades=len({(t.trade_ts_ms, t.trade_id) for t in kafka_trades}),
        stored_trades=len(rows),
        missing=missing,
        extra=extra,
        outside_read=outside,
        bars_checked=len({bar.window_start_ms for bar in stored_bars} | expected.keys()),
        bar_differences=bar_differences,
        kafka_minutes=frozenset(window_start_ms(t.trade_ts_ms) for t in kafka_trades),
    )


# --- what the run reports ---------------------------------------------------------------------------------
class SymbolTotals(NamedTuple):
    """A symbol's differences over every checked window of a run: the metrics' values."""

    missing_trades: int = 0
    extra_trades: int = 0
    wrong_bars: int = 0
    checked_trades: int = 0


@dataclass
class RunTotals:
    by_symbol: dict[str, SymbolTotals] = field(default_factory=dict)
    windows_checked: int = 0
    windows_beyond_retention: int = 0

    @property
    def differences(self) -> int:
        return sum(t.missing_trades + t.extra_trades + t.wrong_bars for t in self.by_symbol.values())


def totals(reports: Iterable[WindowReport]) -> RunTotals:
    run = RunTotals()
    for report in reports:
        if report.status is not WindowStatus.CHECKED:
            run.windows_beyond_retention += 1
            continue
        run.windows_checked += 1
        for result in report.results:
            before = run.by_symbol.get(result.symbol, SymbolTotals())
            run.by_symbol[result.symbol] = SymbolTotals(
                before.missing_trades + len(result.missing),
                before.extra_trades + len(result.extra),
                before.wrong_bars + result.wrong_bars,
                before.checked_trades + result.kafka_trades,
            )
    return run


def repair_advice(reports: Sequence[WindowReport]) -> str:
    """Which windows a `make reset-checkpoint FROM=...` replay repairs, and what it cannot.

    A replay from FROM re-reads every Kafka record since then: the job rewrites each trade (upsert) and
    recomputes the bar of every minute it touches, so missing trades, missing bars and wrong bars of a window
    whose trades are still in Kafka come back. It deletes nothing: extra rows and extra bars stay.
    """
    repairable = [result for report in reports for result in report.differing if result.replay_repairs]
    lines = []
    if repairable:
        start_ms = min(result.window.kafka_start_ms() for result in repairable)
        windows = sorted({result.window.label for result in repairable})
        lines.append(
            f"make reset-checkpoint FROM={iso(start_ms)} replays Kafka from then and repairs the missing "
            f"trades and missing or wrong bars of {', '.join(windows)} (it reprocesses every record since "
            "FROM; rewrites are idempotent)."
        )
    leftovers = [result for report in reports for result in report.differing if result.replay_leaves]
    if leftovers:
        named = ", ".join(sorted({f"{r.symbol} {r.window.label}" for r in leftovers}))
        lines.append(
            f"A replay deletes nothing and recomputes only minutes with trades in Kafka: the extra rows and "
            f"the bars of other minutes of {named} stay until fixed by hand (listed above; trades_v2 key: "
            "symbol, trade day, timestamp, trade_id)."
        )
    return "\n".join(lines)


def summary(reports: Sequence[WindowReport]) -> str:
    """The run's readable outcome: each differing symbol and window, the windows not checked, the repair."""
    run = totals(reports)
    differing = [result for report in reports for result in report.differing]
    lines = []
    if differing:
        names = ", ".join(f"{r.symbol} {r.window.label}" for r in differing)
        lines.append(f"reconciliation found {run.differences} difference(s) in {names}:")
        lines += [result.describe() for result in differing]
    elif not run.windows_checked:
        lines.append("reconciliation checked no window: none could be checked (below)")
    else:
        checked = sum(t.checked_trades for t in run.by_symbol.values())
        lines.append(
            f"reconciliation found no difference: {run.windows_checked} window(s), "
            f"{len(run.by_symbol)} symbol(s), {checked} trade(s) in Kafka"
        )
    for report in reports:
        if report.status is not WindowStatus.CHECKED:
            lines.append(f"{report.window.label} not checked: {report.status.value} ({report.detail})")
    outside = sum(result.outside_read for report in reports for result in report.results)
    if outside:
        lines.append(f"{outside} row(s) reached Kafka after the late grace: outside the read, not compared")
    if differing and (advice := repair_advice(reports)):
        lines.append(advice)
    return "\n".join(lines)


def as_xcom(reports: Sequence[WindowReport]) -> dict[str, object]:
    """The run's outcome as JSON-able XCom: totals per symbol and each window's status and differences."""
    run = totals(reports)
    return {
        "differences": run.differences,
        "windows_checked": run.windows_checked,
        "windows_beyond_retention": run.windows_beyond_retention,
        "symbols": {symbol: t._asdict() for symbol, t in sorted(run.by_symbol.items())},
        "windows": [
            {
                "window": report.window.label,
                "start": iso(report.window.start_ms),
                "end": iso(report.window.end_ms),
                "status": report.status.value,
                "detail": report.detail,
                "kafka_records": report.kafka_records,
                "rejected_records": report.rejected_records,
                "differing": [
                    {
                        "symbol": result.symbol,
                        "missing": [list(key) for key in result.missing[:100]],
                        "extra": [list(key) for key in result.extra[:100]],
                        "bars": [diff.describe() for diff in result.bar_differences[:100]],
                    }
                    for result in report.differing
                ],
            }
            for report in reports
        ],
        "summary": summary(reports),
    }
