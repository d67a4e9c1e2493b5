"""The reconciliation's comparison: trades missing or extra against Kafka, bars missing, extra or wrong
against a recomputation, and the summary an operator reads (symbol, hour, the replay that repairs it)."""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime

from finnhub_pipeline import reconciliation
from finnhub_pipeline.reconciliation import (
    BarProblem,
    ReadRange,
    StoredBar,
    StoredTrade,
    TradeKey,
    WindowReport,
    WindowStatus,
)
from finnhub_pipeline.reconciliation_window import CheckWindow
from finnhub_pipeline.trade_records import KafkaTrade
from jobs.spark_stream.bars import Bar


def ms(text: str) -> int:
    return round(datetime.fromisoformat(text).timestamp() * 1000)


HOUR = CheckWindow(ms("2026-05-01T09:00:00+00:00"), ms("2026-05-01T10:00:00+00:00"))
T0 = HOUR.start_ms
READ = {0: ReadRange(100, 200), 1: ReadRange(50, 60)}


def kafka(offset: int, ts: int, trade_id: str, price: float = 10.0, volume: float = 1.0) -> KafkaTrade:
    return KafkaTrade("BINANCE:BTCUSDT", ts, trade_id, price, volume, 0, offset)


def row(
    ts: int, trade_id: str, price: float = 10.0, volume: float = 1.0, offset: int | None = 150
) -> StoredTrade:
    return StoredTrade(ts, trade_id, price, volume, 0, offset)


def bar_of(window_start: int, bar: Bar) -> StoredBar:
    return StoredBar(window_start, window_start + 60_000, bar)


def stored_bars_for(rows: list[StoredTrade]) -> list[StoredBar]:
    """The bars the job would have written for these rows."""
    return [bar_of(start, bar) for start, bar in reconciliation.expected_bars(rows).items()]


def test_the_same_trades_in_kafka_and_cassandra_and_the_jobs_bars_give_no_difference() -> None:
    trades = [
        kafka(100, T0 + 5, "a", 10.0, 2.0),
        kafka(101, T0 + 5, "b", 11.0, 0.5),
        kafka(102, T0 + 61_000, "c"),
    ]
    rows = [row(t.trade_ts_ms, t.trade_id, t.price, t.volume, t.kafka_offset) for t in trades]

    result = reconciliation.compare_symbol("BINANCE:BTCUSDT", HOUR, trades, rows, stored_bars_for(rows), READ)

    assert result.differences == 0
    assert (result.kafka_trades, result.stored_trades, result.bars_checked) == (3, 3, 2)


def test_a_trade_in_kafka_without_its_row_is_missing() -> None:
    trades = [kafka(100, T0 + 5, "a"), kafka(101, T0 + 6, "b")]
    rows = [row(T0 + 5, "a", offset=100)]

    missing, extra, outside = reconciliation.compare_trades(trades, rows, READ)

    assert (missing, extra, outside) == ((TradeKey(T0 + 6, "b"),), (), 0)


def test_a_row_inside_the_read_that_kafka_does_not_have_is_extra() -> None:
    rows = [row(T0 + 5, "a", offset=100), row(T0 + 7, "ghost", offset=120)]

    missing, extra, outside = reconciliation.compare_trades([kafka(100, T0 + 5, "a")], rows, READ)

    assert (missing, extra, outside) == ((), (TradeKey(T0 + 7, "ghost"),), 0)


def test_a_row_that_reached_kafka_after_the_read_is_counted_outside_not_extra() -> None:
    rows = [row(T0 + 5, "late", offset=250), StoredTrade(T0 + 6, "other-partition", 1.0, 1.0, 2, 7)]

    missing, extra, outside = reconciliation.compare_trades([], rows, READ)

    assert (missing, extra, outside) == ((), (), 2)


def test_one_trade_sent_twice_counts_once() -> None:
    trades = [kafka(100, T0 + 5, "a"), kafka(130, T0 + 5, "a")]
    rows = [row(T0 + 5, "a", offset=130)]

    result = reconciliation.compare_symbol("S", HOUR, trades, rows, stored_bars_for(rows), READ)

    assert result.differences == 0 and result.kafka_trades == 1


def test_a_bar_that_is_not_the_bar_of_its_trades_differs_naming_the_field() -> None:
    rows = [row(T0 + 5, "a", 10.0, 1.0), row(T0 + 9, "b", 12.0, 3.0)]
    (stored,) = stored_bars_for(rows)
    changed = stored._replace(bar=dataclasses.replace(stored.bar, close=99.5))

    (difference,) = reconciliation.compare_bars(reconciliation.expected_bars(rows), [changed])

    assert difference.problem is BarProblem.DIFFERS
    assert difference.fields == ("close 99.5!=12.0",)
    assert difference.describe() == "bar 09:00 differs: close 99.5!=12.0"


def test_a_minute_with_trades_and_no_bar_is_missing_and_a_bar_without_trades_is_extra() -> None:
    rows = [row(T0 + 5, "a")]
    orphan = stored_bars_for([row(T0 + 120_000, "gone")])

    found = reconciliation.compare_bars(reconciliation.expected_bars(rows), orphan)

    assert [(d.window_start_ms - T0, d.problem) for d in found] == [
        (0, BarProblem.MISSING),
        (120_000, BarProblem.EXTRA),
    ]


def test_bars_are_compared_exactly_because_the_job_computes_them_from_the_same_doubles() -> None:
    # 0.1 + 0.2 != 0.3 in floats: a naive running sum would differ from compute_bar's fsum in the last bit,
    # and the order the rows come back in must not matter.
    rows = [row(T0 + i, f"t{i}", price, 0.1) for i, price in enumerate([0.1, 0.2, 0.3, 1e-9, 7.7])]
    stored = stored_bars_for(list(reversed(rows)))

    assert reconciliation.compare_bars(reconciliation.expected_bars(rows), stored) == ()
    vwap = stored[0].bar.vwap
    assert vwap is not None
    one_ulp = stored[0]._replace(bar=dataclasses.replace(stored[0].bar, vwap=math.nextafter(vwap, math.inf)))
    assert (
        reconciliation.compare_bars(reconciliation.expected_bars(rows), [one_ulp])[0]
        .fields[0]
        .startswith("vwap ")
    )


def test_a_bar_with_only_price_updates_has_no_vwap_on_both_sides() -> None:
    rows = [row(T0 + 5, "a", 10.0, 0.0)]
    (stored,) = stored_bars_for(rows)

    assert stored.bar.vwap is None
    assert reconciliation.compare_bars(reconciliation.expected_bars(rows), [stored]) == ()


def test_a_wrong_window_end_is_a_difference() -> None:
    rows = [row(T0 + 5, "a")]
    (stored,) = stored_bars_for(rows)

    (difference,) = reconciliation.compare_bars(
        reconciliation.expected_bars(rows), [stored._replace(window_end_ms=stored.window_end_ms + 1)]
    )
    assert difference.fields[0].startswith("window_end ")


def differing_report() -> list[WindowReport]:
    """One trade deleted from a minute that has two, and that minute's bar changed: what the integration test
    does to the live tables."""
    trades = [kafka(100, T0 + 5, "a"), kafka(101, T0 + 6, "a2"), kafka(102, T0 + 70_000, "b")]
    rows = [row(T0 + 6, "a2", offset=101), row(T0 + 70_000, "b", offset=102)]
    bars = stored_bars_for([row(T0 + 5, "a"), *rows])
    bars[0] = bars[0]._replace(bar=dataclasses.replace(bars[0].bar, high=1e6))
    result = reconciliation.compare_symbol("BINANCE:BTCUSDT", HOUR, trades, rows, bars, READ)
    clean = reconciliation.compare_symbol("AAPL", HOUR, [], [], [], READ)
    earlier = CheckWindow(HOUR.start_ms - 3_600_000, HOUR.start_ms)
    return [
        WindowReport(earlier, WindowStatus.BEYOND_KAFKA_RETENTION, detail="earliest record 08:30"),
        WindowReport(HOUR, WindowStatus.CHECKED, (clean, result), kafka_records=3),
    ]


def test_the_summary_names_symbol_hour_counts_and_the_replay_that_repairs_them() -> None:
    text = reconciliation.summary(differing_report())

    assert (
        text.splitlines()[0] == "reconciliation found 2 difference(s) in BINANCE:BTCUSDT 2026-05-01T09:00Z:"
    )
    assert "BINANCE:BTCUSDT 2026-05-01T09:00Z: 1 missing trade(s), 0 extra row(s), 1 wrong bar(s)" in text
    assert "missing trade 2026-05-01T09:00:00Z a" in text
    assert (
        "bar 09:00 differs: high 1000000.0!=10.0, volume 2.0!=1.0, trade_count 2!=1, first_trade_ts_ms"
        in text
    )
    assert "2026-05-01T08:00Z not checked: beyond_kafka_retention (earliest record 08:30)" in text
    assert (
        "make reset-checkpoint FROM=2026-05-01T08:59:00Z replays Kafka from then and repairs the missing "
        "trades and missing or wrong bars of 2026-05-01T09:00Z" in text
    )
    assert "by hand" not in text
    assert "AAPL" not in text


def test_the_bar_of_a_minute_whose_only_trade_is_missing_is_repaired_by_the_replay_too() -> None:
    rows: list[StoredTrade] = []
    bars = stored_bars_for([row(T0 + 5, "a")])
    result = reconciliation.compare_symbol("S", HOUR, [kafka(100, T0 + 5, "a")], rows, bars, READ)

    advice = reconciliation.repair_advice([WindowReport(HOUR, WindowStatus.CHECKED, (result,))])

    assert [d.problem for d in result.bar_differences] == [BarProblem.EXTRA]
    assert advice.startswith("make reset-checkpoint FROM=2026-05-01T08:59:00Z")
    assert "by hand" not in advice


def test_extra_rows_are_reported_as_what_a_replay_cannot_remove() -> None:
    result = reconciliation.compare_symbol("S", HOUR, [], [row(T0 + 5, "ghost", offset=150)], [], READ)
    report = [WindowReport(HOUR, WindowStatus.CHECKED, (result,))]

    advice = reconciliation.repair_advice(report)

    # The ghost's minute has no bar either; Kafka has no trade there, so no replay recomputes it.
    assert [d.problem for d in result.bar_differences] == [BarProblem.MISSING]
    assert "make reset-checkpoint" not in advice
    assert advice.startswith("A replay deletes nothing")
    assert "the bars of other minutes of S 2026-05-01T09:00Z stay until fixed by hand" in advice


def test_a_clean_run_summary_says_what_was_checked() -> None:
    clean = reconciliation.compare_symbol(
        "S", HOUR, [kafka(100, T0, "a")], [row(T0, "a", offset=100)], [], READ
    )
    clean = dataclasses.replace(clean, bar_differences=())

    text = reconciliation.summary([WindowReport(HOUR, WindowStatus.CHECKED, (clean,))])

    assert text == "reconciliation found no difference: 1 window(s), 1 symbol(s), 1 trade(s) in Kafka"


def test_totals_and_xcom_count_per_symbol_over_windows() -> None:
    reports = differing_report()

    run = reconciliation.totals(reports)
    xcom = reconciliation.as_xcom(reports)

    assert run.by_symbol["BINANCE:BTCUSDT"] == reconciliation.SymbolTotals(1, 0, 1, 3)
    assert run.by_symbol["AAPL"] == reconciliation.SymbolTotals(0, 0, 0, 0)
    assert (run.windows_checked, run.windows_beyond_retention, run.differences) == (1, 1, 2)
    assert xcom["differences"] == 2
    assert xcom["windows"][1]["differing"][0]["missing"] == [[T0 + 5, "a"]]  # type: ignore[index]
