"""The driver's bar book: which windows it reads back from `trades_v2` and which it extends, and that its bars
are those of every distinct stored trade of their minute, through restarts, replays and evictions."""

from __future__ import annotations

from jobs.spark_stream.bar_book import BarBook
from jobs.spark_stream.bars import BarTrade, compute_bar
from jobs.spark_stream.cql import Window

MINUTE = 1_700_000_040_000  # 2023-11-14T22:14:00Z
AAPL = Window("AAPL", 2023, 11, 14, MINUTE)
MSFT = Window("MSFT", 2023, 11, 14, MINUTE)


def trade(ms: int, trade_id: str, price: float = 10.0, volume: float = 1.0) -> BarTrade:
    return BarTrade(MINUTE + ms, trade_id, price, volume)


class StoredTrades:
    """trades_v2 as the book must mirror it: upserts by key."""

    def __init__(self) -> None:
        self.rows: dict[Window, dict[tuple[int, str], BarTrade]] = {}

    def write(self, batch: dict[Window, list[BarTrade]]) -> None:
        for window, trades in batch.items():
            for t in trades:
                self.rows.setdefault(window, {})[(t.trade_ts_ms, t.trade_id)] = t

    def read(self, window: Window) -> list[BarTrade]:
        return list(self.rows.get(window, {}).values())


def run_batch(book: BarBook, stored: StoredTrades, batch: dict[Window, list[BarTrade]]) -> list[Window]:
    """What the writer does: the windows the book lacks read first, then the trades written and added to the
    book, the windows it cannot extend read back; return the windows read, before and after."""
    read_before = book.missing(batch)
    for window in read_before:
        book.load(window, stored.read(window))
    stored.write(batch)
    read_after = book.add(batch)
    for window in read_after:
        book.load(window, stored.read(window))
    book.evict()
    return read_before + read_after


def test_a_window_is_read_back_once_then_extended_with_each_batch_s_trades() -> None:
    book, stored = BarBook(max_trades=1_000), StoredTrades()
    stored.write({AAPL: [trade(0, "from-before-a-restart", 12.0)]})

    assert run_batch(book, stored, {AAPL: [trade(5, "a")], MSFT: [trade(1, "m")]}) == [AAPL, MSFT]
    assert run_batch(book, stored, {AAPL: [trade(9, "b", 11.0)]}) == []
    assert run_batch(book, stored, {AAPL: [trade(2, "late-within-the-minute", 9.0)]}) == []

    assert book.bar(AAPL) == compute_bar(stored.read(AAPL))
    assert (book.bar(AAPL).open, book.bar(AAPL).trade_count) == (12.0, 4)


def test_a_replayed_batch_and_repeated_trades_leave_the_bar_unchanged_without_a_read() -> None:
    book, stored = BarBook(max_trades=1_000), StoredTrades()
    batch = {AAPL: [trade(1, "a"), trade(2, "b", 12.0)]}
    run_batch(book, stored, batch)
    bar = book.bar(AAPL)

    assert run_batch(book, stored, batch) == []
    assert run_batch(book, stored, {AAPL: [trade(2, "b", 12.0), trade(2, "b", 12.0)]}) == []
    assert book.bar(AAPL) == bar == compute_bar(stored.read(AAPL))


def test_a_trade_key_written_again_with_other_figures_makes_the_window_read_back() -> None:
    book, stored = BarBook(max_trades=1_000), StoredTrades()
    run_batch(book, stored, {AAPL: [trade(1, "a", 10.0)]})

    assert run_batch(book, stored, {AAPL: [trade(3, "c"), trade(1, "a", 99.0)]}) == [AAPL]
    assert book.bar(AAPL) == compute_bar(stored.read(AAPL))
    assert book.bar(AAPL).high == 99.0


def test_the_least_recently_touched_windows_go_first_beyond_the_trade_budget() -> None:
    book, stored = BarBook(max_trades=3), StoredTrades()
    run_batch(book, stored, {MSFT: [trade(1, "m1"), trade(2, "m2")]})
    run_batch(book, stored, {AAPL: [trade(1, "a1")]})
    assert set(book.windows) == {AAPL, MSFT}

    run_batch(book, stored, {AAPL: [trade(2, "a2")]})  # 4 trades held: MSFT was touched longest ago
    assert list(book.windows) == [AAPL]
    # An evicted window is read back whole when a trade comes for it again.
    assert run_batch(book, stored, {MSFT: [trade(3, "m3")]}) == [MSFT]
    assert book.bar(MSFT) == compute_bar(stored.read(MSFT))


def test_a_cleared_book_reads_every_window_back_next_time() -> None:
    book, stored = BarBook(max_trades=1_000), StoredTrades()
    run_batch(book, stored, {AAPL: [trade(1, "a")]})
    stored.write({AAPL: [trade(4, "written-by-a-failed-batch")]})
    book.clear()

    assert run_batch(book, stored, {AAPL: [trade(2, "b")]}) == [AAPL]
    assert book.bar(AAPL).trade_count == 3
