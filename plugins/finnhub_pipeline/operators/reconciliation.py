"""Reconciles Kafka against Cassandra for the previous complete hour, or a requested range, per symbol: the
trades in Kafka against `trades_v2`, and every bar of `trade_aggregates` against a recomputation.

Checks its arguments, then delegates: `KafkaRecordsHook` reads the records, `StoredTradesReader` (over
`PipelineCassandraHook`) the rows, `stream_checkpoint` tells whether the job has written what is checked, and
the pure `reconciliation` module compares and words the outcome. Differences go to StatsD with symbol tags
(`tagged_stats`), XCom and the task log, and fail the task at once.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from finnhub_pipeline import reconciliation, stream_checkpoint
from finnhub_pipeline.connections import CASSANDRA_CONN_ID, KAFKA_CONN_ID
from finnhub_pipeline.exceptions import (
    ReconciliationMismatchError,
    ReconciliationRangeError,
    StreamBehindError,
)
from finnhub_pipeline.hooks.cassandra import PipelineCassandraHook
from finnhub_pipeline.hooks.records import KafkaRecordsHook
from finnhub_pipeline.operators._arguments import as_int
from finnhub_pipeline.reconciliation import ReadRange, SymbolResult, WindowReport, WindowStatus
from finnhub_pipeline.reconciliation_window import (
    HOUR_MS,
    CheckWindow,
    grace_from_minutes,
    iso,
    requested_windows,
)
from finnhub_pipeline.stored_trades import StoredTradesReader
from finnhub_pipeline.tagged_stats import TaggedStats, airflow_statsd_target
from finnhub_pipeline.trade_records import KafkaTrade, parse_trade
from services import contracts

METRIC_PREFIX = "reconciliation"
STREAM_POLL_S = 15.0


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class ReconciliationOperator(BaseOperator):
    """Returns the report (`reconciliation.as_xcom`) when nothing differs; pushes it as XCom `report` always.

    :param start: ISO-8601 UTC start of a requested range (template; empty with `end` empty: the previous
        complete hour before the run's scheduled time)
    :param end: ISO-8601 UTC end (exclusive) of a requested range (template)
    :param late_grace_minutes: trades that reach Kafka up to this long after their hour count as its trades
    :param checkpoint: the stream job's checkpoint folder; the task waits until the job has committed the
        records it checks (empty: no wait)
    :param stream_wait_minutes: how long it waits for the job before failing with `StreamBehindError`
        (retried then)
    """

    template_fields: Sequence[str] = (
        "start",
        "end",
        "late_grace_minutes",
        "checkpoint",
        "stream_wait_minutes",
        "keyspace",
        "topic",
    )

    def __init__(
        self,
        *,
        start: str | None = None,
        end: str | None = None,
        late_grace_minutes: int | str = 10,
        checkpoint: str | None = None,
        stream_wait_minutes: int | str = 15,
        keyspace: str = contracts.KEYSPACE,
        topic: str = contracts.TRADES_TOPIC,
        kafka_conn_id: str = KAFKA_CONN_ID,
        cassandra_conn_id: str = CASSANDRA_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.start = start
        self.end = end
        self.late_grace_minutes = late_grace_minutes
        self.checkpoint = checkpoint
        self.stream_wait_minutes = stream_wait_minutes
        self.keyspace = keyspace
        self.topic = topic
        self.kafka_conn_id = kafka_conn_id
        self.cassandra_conn_id = cassandra_conn_id

    # --- arguments --------------------------------------------------------------------------------------
    @staticmethod
    def _reference_ms(context: Context) -> int:
        """The run's scheduled time (`run_after`; a manual run's is when it was triggered)."""
        dag_run = context.get("dag_run")
        moment = getattr(dag_run, "run_after", None) or context.get("logical_date")
        return round(moment.timestamp() * 1000) if moment is not None else _now_ms()

    def _windows(self, context: Context, now_ms: int) -> list[CheckWindow]:
        grace_ms = grace_from_minutes(as_int("late_grace_minutes", self.late_grace_minutes, 0))
        return requested_windows(
            str(self.start or ""),
            str(self.end or ""),
            reference_ms=self._reference_ms(context),
            now_ms=now_ms,
            late_grace_ms=grace_ms,
        )

    def execute(self, context: Context) -> dict[str, Any]:
        if not str(self.keyspace).isidentifier():
            raise ValueError(f"keyspace must be a plain CQL identifier, got {self.keyspace!r}")
        if not str(self.topic).strip():
            raise ValueError("topic must be a Kafka topic name, got an empty string")
        stream_wait_s = 60 * as_int("stream_wait_minutes", self.stream_wait_minutes, 0)
        checkpoint = self._local_checkpoint()
        now_ms = _now_ms()
        try:
            windows = self._windows(context, now_ms)
        except ReconciliationRangeError as error:
            self._push(context, {"error": str(error)})
            # A retry would refuse the same range: fail at once, with the reason as the task's error.
            raise AirflowFailException(f"reconciliation refused the range: {error}") from error
        self.log.info(
            "event=reconciliation_windows windows=%s late_grace_minutes=%s",
            ",".join(window.label for window in windows),
            self.late_grace_minutes,
        )

        self._timing: dict[str, float] = defaultdict(float)
        reports: list[WindowReport] = []
        with (
            KafkaRecordsHook(self.kafka_conn_id) as kafka,
            PipelineCassandraHook(self.cassandra_conn_id) as db,
        ):
            reader = StoredTradesReader(db, str(self.keyspace))
            started = time.monotonic()
            stored_symbols = reader.symbols(windows)
            earliest = kafka.earliest_timestamps(self.topic, kafka.watermarks(self.topic))
            self._timing["metadata_s"] += time.monotonic() - started
            for window in windows:
                unchecked = self._beyond_retention(window, earliest, now_ms)
                reports.append(
                    unchecked
                    or self._check(window, kafka, reader, stored_symbols[window], checkpoint, stream_wait_s)
                )
        report = reconciliation.as_xcom(reports)
        timing = {name: round(seconds, 3) for name, seconds in sorted(self._timing.items())}
        report["timing"] = timing
        self._emit_metrics(reports, now_ms)
        self._push(context, report)
        outcome = reconciliation.summary(reports)
        run = reconciliation.totals(reports)
        self.log.info(
            "event=reconciliation_timing %s",
            " ".join(f"{name}={seconds}" for name, seconds in timing.items()),
        )
        if run.differences:
            self.log.error("event=reconciliation_differences\n%s", outcome)
            # Differences were read twice (see _check): a retry would find them again. Fail at once.
            raise AirflowFailException(outcome) from ReconciliationMismatchError(outcome)
        self.log.info("event=reconciliation_done\n%s", outcome)
        if not run.windows_checked:
            raise AirflowSkipException(outcome)
        return report

    # --- checks -----------------------------------------------------------------------------------------
    def _beyond_retention(
        self, window: CheckWindow, earliest: Mapping[int, int], now_ms: int
    ) -> WindowReport | None:
        """A report for a window that cannot be checked, or None. Kafka: a partition's earliest retained
        record is younger than the window's read start, so some of its trades may be gone. trades_v2: the
        window's rows expire within the hour (the job rounds its own retention limit up to the hour)."""
        ttl_start_ms = now_ms - contracts.TRADES_TTL_SECONDS * 1000 + HOUR_MS
        if window.start_ms < ttl_start_ms:
            return WindowReport(
                window,
                WindowStatus.BEYOND_TRADES_TTL,
                detail=f"trades_v2 keeps {contracts.TRADES_TTL_SECONDS // 86400} days; rows before "
                f"{iso(ttl_start_ms)} expire",
            )
        younger = {p: ts for p, ts in earliest.items() if ts > window.kafka_start_ms()}
        if younger:
            partition, timestamp_ms = min(younger.items(), key=lambda item: item[1])
            return WindowReport(
                window,
                WindowStatus.BEYOND_KAFKA_RETENTION,
                detail=f"the earliest record Kafka keeps in {self.topic}[{partition}] is from "
                f"{iso(timestamp_ms)}, after the read start {iso(window.kafka_start_ms())}; "
                "nothing is reported as lost",
            )
        return None

    def _check(
        self,
        window: CheckWindow,
        kafka: KafkaRecordsHook,
        reader: StoredTradesReader,
        stored_symbols: set[str],
        checkpoint: Path | None,
        stream_wait_s: float,
    ) -> WindowReport:
        timing = self._timing
        late_grace_ms = grace_from_minutes(as_int("late_grace_minutes", self.late_grace_minutes, 0))
        started = time.monotonic()
        watermarks = kafka.watermarks(self.topic)
        starts = kafka.offsets_at(self.topic, window.kafka_start_ms(), watermarks)
        ends = kafka.offsets_at(self.topic, window.kafka_end_ms(late_grace_ms), watermarks)
        ranges = {p: ReadRange(starts[p], ends[p]) for p in watermarks}
        by_symbol: dict[str, list[KafkaTrade]] = defaultdict(list)
        records = rejected = 0
        needed: dict[int, int] = {}
        for record in kafka.read(self.topic, ranges):
            records += 1
            trade = parse_trade(record.value, record.partition, record.offset)
            if trade is None:
                rejected += 1
                continue
            if window.contains(trade.trade_ts_ms):
                by_symbol[trade.symbol].append(trade)
                needed[record.partition] = max(needed.get(record.partition, 0), record.offset + 1)
        timing["kafka_read_s"] += time.monotonic() - started
        self.log.info(
            "event=kafka_read window=%s ranges=%s records=%d rejected=%d window_trades=%d",
            window.label,
            {p: tuple(r) for p, r in sorted(ranges.items())},
            records,
            rejected,
            sum(len(trades) for trades in by_symbol.values()),
        )

        started = time.monotonic()
        self._wait_for_stream(needed, checkpoint, stream_wait_s)
        timing["stream_wait_s"] += time.monotonic() - started

        results: list[SymbolResult] = []
        for symbol in sorted(by_symbol.keys() | stored_symbols):
            result = self._compare(symbol, window, by_symbol.get(symbol, []), reader, ranges)
            if result.differences:
                # Read once more: a batch of the job may have written this window between the two reads
                # (late trades), which would show as a bar that disagrees with rows read a moment earlier.
                result = self._compare(symbol, window, by_symbol.get(symbol, []), reader, ranges)
            self.log.info(
                "event=reconciled symbol=%s window=%s kafka_trades=%d rows=%d missing=%d extra=%d "
                "wrong_bars=%d outside_read=%d",
                symbol,
                window.label,
                result.kafka_trades,
                result.stored_trades,
                len(result.missing),
                len(result.extra),
                result.wrong_bars,
                result.outside_read,
            )
            results.append(result)
        return WindowReport(window, WindowStatus.CHECKED, tuple(results), records, rejected)

    def _compare(
        self,
        symbol: str,
        window: CheckWindow,
        kafka_trades: list[KafkaTrade],
        reader: StoredTradesReader,
        ranges: Mapping[int, ReadRange],
    ) -> SymbolResult:
        timing = self._timing
        started = time.monotonic()
        rows = reader.trades(symbol, window)
        bars = reader.bars(symbol, window)
        timing["cassandra_read_s"] += time.monotonic() - started
        started = time.monotonic()
        result = reconciliation.compare_symbol(symbol, window, kafka_trades, rows, bars, ranges)
        timing["compare_s"] += time.monotonic() - started
        return result

    def _local_checkpoint(self) -> Path | None:
        """The job's checkpoint folder, or None (no wait) when none is given or it is not on local disk."""
        if not self.checkpoint:
            return None
        try:
            return stream_checkpoint.local_path(str(self.checkpoint))
        except stream_checkpoint.CheckpointError as error:
            self.log.warning("event=reconciliation_no_stream_wait reason=%r", str(error))
            return None

    def _wait_for_stream(self, needed: Mapping[int, int], checkpoint: Path | None, wait_s: float) -> None:
        """Waits until the job's last committed batch ends at or after `needed` (per partition: one past the
        last record checked). Without it, trades the job has not reached yet would look lost."""
        if not needed or checkpoint is None:
            return
        deadline = time.monotonic() + wait_s
        while True:
            try:
                committed = stream_checkpoint.committed_offsets(checkpoint, self.topic)
            except stream_checkpoint.CheckpointError as error:  # a batch being written: read again
                committed, reason = None, str(error)
            else:
                reason = "no batch committed yet" if committed is None else ""
            offsets = committed.offsets if committed is not None else {}
            behind = {p: (offsets.get(p, 0), need) for p, need in needed.items() if offsets.get(p, 0) < need}
            if not behind:
                return
            if time.monotonic() >= deadline:
                where = ", ".join(
                    f"{self.topic}[{p}] at {have} of {need}" for p, (have, need) in sorted(behind.items())
                )
                batch = f"batch {committed.batch_id}" if committed is not None else reason
                raise StreamBehindError(
                    f"the stream job has not written the records to check after {wait_s:.0f} s ({where}; "
                    f"checkpoint {checkpoint}, {batch}): it is down or behind (make kafka-lag); "
                    "nothing was compared, the retry checks again"
                )
            time.sleep(STREAM_POLL_S)

    # --- outputs ----------------------------------------------------------------------------------------
    def _emit_metrics(self, reports: Sequence[WindowReport], now_ms: int) -> None:
        """Per symbol: missing trades, extra rows, wrong bars and trades checked over the run's windows; the
        latest window checked and the run's time. statsd_exporter keeps the last value of each."""
        target = airflow_statsd_target()
        if target is None:
            self.log.warning(
                "event=reconciliation_metrics_off reason='[metrics] statsd_on is off: no gauges'"
            )
        stats = TaggedStats(target)
        run = reconciliation.totals(reports)
        for symbol, counts in sorted(run.by_symbol.items()):
            tags = {"symbol": symbol}
            stats.gauge(f"{METRIC_PREFIX}.missing_trades", counts.missing_trades, tags)
            stats.gauge(f"{METRIC_PREFIX}.extra_trades", counts.extra_trades, tags)
            stats.gauge(f"{METRIC_PREFIX}.wrong_bars", counts.wrong_bars, tags)
            stats.gauge(f"{METRIC_PREFIX}.checked_trades", counts.checked_trades, tags)
        checked = [r.window for r in reports if r.status is WindowStatus.CHECKED]
        if checked:
            latest = max(checked, key=lambda window: window.start_ms)
            stats.gauge(f"{METRIC_PREFIX}.checked_window_start_timestamp_seconds", latest.start_ms // 1000)
        stats.gauge(f"{METRIC_PREFIX}.windows_checked", run.windows_checked)
        stats.gauge(f"{METRIC_PREFIX}.windows_beyond_retention", run.windows_beyond_retention)
        stats.gauge(f"{METRIC_PREFIX}.last_run_timestamp_seconds", now_ms // 1000)

    @staticmethod
    def _push(context: Context, report: Mapping[str, Any]) -> None:
        task_instance = context.get("ti")
        if task_instance is not None:
            task_instance.xcom_push(key="report", value=dict(report))
