"""The load step, on the driver: `BatchWriter.write_batch` is the one function through which the job writes
anything. It collects the batch (`batch_rows`), writes its dead letters and trades (`table_writers`), runs
the bar step (`bar_book`), and feeds the metrics and the batch's log line.

Per micro-batch: the minutes the bar book lacks read from `trades_v2`, dead letters, then trades, then the
bars of every minute the batch touched, each a function of all of that minute's stored trades. All writes are
idempotent upserts; any failure fails the batch so Spark replays it.
"""

from __future__ import annotations

import collections
import contextlib
import gc
import logging
import time
from collections.abc import Callable, Iterator, Sequence

from pyspark.sql import DataFrame

from jobs.spark_stream.bar_book import DEFAULT_MAX_TRADES, BarBook
from jobs.spark_stream.bars import BarTrade, window_start_ms
from jobs.spark_stream.batch_rows import collect_outcomes
from jobs.spark_stream.cassandra_writer import CassandraTarget, CassandraWriteError
from jobs.spark_stream.cql import TradeRow, Window
from jobs.spark_stream.metrics import (
    LATENCY_BOUNDS_SECONDS,
    BatchStats,
    BatchStep,
    EventTimeClock,
    StreamMetrics,
    TradeTimes,
)
from jobs.spark_stream.table_writers import CASSANDRA_WRITERS, TableWriters
from services import contracts

log = logging.getLogger(__name__)


def error_summary(error: BaseException) -> str:
    """An error as one log field: its type and the first line of its message."""
    first_line = next(iter(str(error).splitlines()), "")
    return f"{type(error).__name__}: {first_line}"


def wall_clock_ms() -> int:
    """Now, Unix epoch milliseconds, on this process's clock."""
    return time.time_ns() // 1_000_000


def trades_by_window(trades: Sequence[TradeRow]) -> dict[Window, list[BarTrade]]:
    """The trades, as the bar step takes them, by the window they fall into."""
    by_window: dict[Window, list[BarTrade]] = collections.defaultdict(list)
    for t in trades:
        window = Window(t.symbol, t.trade_year, t.trade_month, t.trade_day, window_start_ms(t.trade_ts_ms))
        by_window[window].append(BarTrade(t.trade_ts_ms, t.trade_id, t.price, t.volume))
    return dict(by_window)


@contextlib.contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Python's cycle collector off for the block (reference counting still frees what the block drops).

    A batch allocates a few objects per value of each row, most of them alive until the batch ends, so the
    collector's generations fill and are traversed again and again, the bar book's trades with them: with it
    on, turning 120,000 rows of Arrow into trade rows took 4 times as long, binding them 2 times. What the
    batch leaves in cycles is collected once the collector is back on.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class BatchWriter:
    """Every write of the job, and its driver-side state: the metrics, the event-time clock and the bar book.

    A batch is one Spark job (Kafka, parsing, validation, on the executors) whose rows the driver collects
    as Arrow; the driver reads from `trades_v2` the windows the bar book does not hold, writes the rows, then
    adds the trades to the bar book and writes the touched bars.
    """

    def __init__(
        self,
        target: CassandraTarget,
        metrics: StreamMetrics,
        event_time: EventTimeClock,
        now_ms: Callable[[], int] = wall_clock_ms,
        writers: TableWriters = CASSANDRA_WRITERS,
        bar_book_trades: int = DEFAULT_MAX_TRADES,
    ) -> None:
        self.target, self.metrics, self.event_time = target, metrics, event_time
        self.now_ms, self.writers = now_ms, writers
        self.bar_book = BarBook(bar_book_trades)
        self._last_bar_write_time_us = 0

    def write_batch(self, outcome_rows: DataFrame, epoch_id: int, started_ms: int) -> None:
        """Write one micro-batch's `transforms.outcome_rows`; `started_ms` (the driver's clock when the
        batch began) is the rows' `ingested_at`/`rejected_at` and, in µs, the bars' write time."""
        try:
            with cyclic_gc_paused():
                self._write_batch(outcome_rows, epoch_id, started_ms)
        except BaseException:
            # A failed batch may have written some of its trades: empty the book, so that every window is
            # read back whole from trades_v2.
            self.bar_book.clear()
            raise

    def _write_batch(self, outcome_rows: DataFrame, epoch_id: int, started_ms: int) -> None:
        late_before_ms = self.event_time.late_before_ms()
        collect_started_ms = self.now_ms()
        trades, dead_letters = collect_outcomes(outcome_rows)
        steps_ms = {BatchStep.COLLECT: self.now_ms() - collect_started_ms}
        rejected = collections.Counter(dead_letter.reason for dead_letter in dead_letters)
        bar_trades = trades_by_window(trades)
        bars_started_ms = self.now_ms()
        read_before = self._read_unheld_windows(epoch_id, bar_trades)
        bars_ms = self.now_ms() - bars_started_ms
        steps: list[tuple[BatchStep, str, int, Callable[[], None]]] = [
            (
                BatchStep.DEAD_LETTERS,
                contracts.DEAD_LETTER_TABLE,
                len(dead_letters),
                lambda: self.writers.dead_letters(self.target, dead_letters, rejected_at_ms=started_ms),
            ),
            (
                BatchStep.TRADES,
                contracts.TRADES_TABLE,
                len(trades),
                lambda: self.writers.trades(self.target, trades, ingested_at_ms=started_ms),
            ),
        ]
        for step, table, count, write in steps:
            if not count:
                continue
            step_started_ms = self.now_ms()
            try:
                write()
            except Exception as error:
                self._count_failure(epoch_id, table, count, error_summary(error))
                raise
            steps_ms[step] = self.now_ms() - step_started_ms
        # Latency runs to when the trades were written.
        stats = BatchStats.of(
            [TradeTimes(t.trade_ts_ms, t.received_at_ms) for t in trades],
            late_before_ms,
            self.now_ms(),
            LATENCY_BOUNDS_SECONDS,
        )

        bars_started_ms = self.now_ms()
        read_after = self._write_bars(epoch_id, bar_trades, started_ms)
        if bar_trades:
            steps_ms[BatchStep.BARS] = bars_ms + self.now_ms() - bars_started_ms

        self.metrics.rows_written.labels(table=contracts.DEAD_LETTER_TABLE).inc(len(dead_letters))
        self.metrics.rows_written.labels(table=contracts.TRADES_TABLE).inc(len(trades))
        self.metrics.rows_written.labels(table=contracts.AGGREGATES_TABLE).inc(len(bar_trades))
        self.metrics.records_read.inc(len(trades) + len(dead_letters))
        for reason, count in rejected.items():
            self.metrics.dead_letters.labels(reason=reason).inc(count)
        self.metrics.record_trade_stats(stats)
        self.event_time.advance(stats.max_trade_ts_ms)
        self.metrics.record_written_steps(epoch_id, steps_ms)
        self.metrics.last_batch_completed.set(self.now_ms() / 1000)
        log.info(
            "event=batch_written epoch=%d records=%d trades=%d dead_letters=%d late=%d bars=%d "
            "bars_read_back=%d bar_book_trades=%d duration_ms=%d steps_ms=%s",
            epoch_id,
            len(trades) + len(dead_letters),
            len(trades),
            len(dead_letters),
            stats.late_count,
            len(bar_trades),
            read_before + read_after,
            self.bar_book.trade_count,
            self.now_ms() - started_ms,
            ",".join(f"{step.value}:{ms}" for step, ms in steps_ms.items()) or "none",
        )

    def _read_unheld_windows(self, epoch_id: int, bar_trades: dict[Window, list[BarTrade]]) -> int:
        """The bar step's first half, before the batch writes anything: the windows the bar book does not hold
        loaded into it from `trades_v2` (what it held before the batch; the batch's trades are added once
        written); return how many were read.

        Read before rather than after the writes, it returns only the trades of earlier batches: nothing for
        a new minute, where a read after the writes would fetch back every trade the batch just wrote. A read
        that sees some of the batch's own trades already (an earlier, failed attempt at it wrote them)
        changes nothing: each trade key is held once.
        """
        to_read = self.bar_book.missing(bar_trades)
        if not to_read:
            return 0
        try:
            stored = self.writers.window_trades(self.target, to_read)
        except Exception as error:
            self._count_failure(epoch_id, contracts.AGGREGATES_TABLE, len(bar_trades), error_summary(error))
            raise
        for window, window_stored in zip(to_read, stored, strict=True):
            self.bar_book.load(window, window_stored)
        return len(to_read)

    def _write_bars(self, epoch_id: int, bar_trades: dict[Window, list[BarTrade]], started_ms: int) -> int:
        """The bar step's second half, after the trades are written: the batch's trades into the bar book,
        the windows it cannot extend safely read back whole from `trades_v2`, every touched window's bar
        upserted; return how many windows were read back.

        Bars are written at the batch's start time (µs, and always later than the previous batch's), so a
        later batch's bar wins over an earlier one in Cassandra whatever the order the writes land in.
        """
        if not bar_trades:
            return 0
        write_time_us = max(started_ms * 1000, self._last_bar_write_time_us + 1)
        try:
            to_read = self.bar_book.add(bar_trades)
            if to_read:
                for window, stored in zip(
                    to_read, self.writers.window_trades(self.target, to_read), strict=True
                ):
                    if not stored:
                        # The batch has just written at least one trade here; not reading it back means the
                        # read did not see the write (consistency level too low): fail, store no wrong bar.
                        raise CassandraWriteError(
                            f"no trades read back for {window.symbol} window_start_ms="
                            f"{window.window_start_ms}; check CASSANDRA_CONSISTENCY "
                            f"(now {self.target.connection.consistency})"
                        )
                    self.bar_book.load(window, stored)
            bars = [(window, self.bar_book.bar(window)) for window in sorted(bar_trades)]
            self.writers.bars(self.target, bars, updated_at_ms=self.now_ms(), write_time_us=write_time_us)
        except Exception as error:
            self._count_failure(epoch_id, contracts.AGGREGATES_TABLE, len(bar_trades), error_summary(error))
            raise
        self._last_bar_write_time_us = write_time_us
        self.bar_book.evict()
        return len(to_read)

    def _count_failure(self, epoch_id: int, table: str, rows: int, error: str) -> None:
        self.metrics.write_failures.labels(table=table).inc()
        log.error(  # one line; the full trace is already in Spark's log
            "event=batch_write_failed epoch=%d table=%s rows=%d error=%s", epoch_id, table, rows, error
        )
