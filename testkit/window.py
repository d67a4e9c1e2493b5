"""The stack's live pipeline checked end to end over a window of its stream: per symbol, the trades sent (by
the simulator, and by a benchmark's own load when it adds one) = the records in Kafka = the rows of trades_v2
(nothing lost, nothing duplicated), and every bar of trade_aggregates = `compute_bar` of that minute's stored
trades. Used by the cluster suite (tests/integration/cluster) and `make soak`.

A window is the stream between two quiet moments. `quiesce` silences the simulator (every client, through its
control endpoint), waits until Kafka's end offsets stop moving, and snapshots what the simulator says it sent
per symbol and Kafka's end offsets; `resume` lets it stream on. The trades of a window are the records
between two snapshots' offsets; their timestamps lie between the two quiet moments, so the rows of trades_v2
in that time range per symbol are exactly that window's.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from finnhub_pipeline.stored_trades import BAR_COLUMNS, bar_of_row
from finnhub_pipeline.trade_records import KafkaTrade, parse_trade
from jobs.spark_stream.bars import BAR_WINDOW_MS, Bar, BarTrade, compute_bar
from services import contracts
from stack.lag import stream_lag, topic_watermarks
from stack.settings import RuntimeSettings
from testkit.runtime import simulator_control
from testkit.waiting import eventually


@dataclass(frozen=True)
class Snapshot:
    """A quiet moment of the stream: the simulator's trades sent per symbol, Kafka's end offsets."""

    sent: Counter[str]
    end_offsets: dict[int, int]
    at_ms: int


@dataclass
class WindowReport:
    """What one window compared, per symbol, and every difference found (empty: nothing lost or doubled)."""

    sent: Counter[str] = field(default_factory=Counter)
    in_kafka: Counter[str] = field(default_factory=Counter)
    in_cassandra: Counter[str] = field(default_factory=Counter)
    bars_checked: int = 0
    differences: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{sum(self.sent.values())} trades sent, {sum(self.in_kafka.values())} in Kafka, "
            f"{sum(self.in_cassandra.values())} rows, {self.bars_checked} bars"
        )


def end_offsets(settings: RuntimeSettings) -> dict[int, int]:
    watermarks = topic_watermarks(settings.kafka_connection(), contracts.TRADES_TOPIC)
    return {partition: end for partition, (_, end) in watermarks.items()}


def quiesce(settings: RuntimeSettings, still_s: float = 4.0, timeout_s: float = 120.0) -> Snapshot:
    """Silences the simulator, waits until nothing more reaches Kafka for `still_s`, returns the snapshot."""
    simulator_control(settings, "silence?seconds=3600")
    deadline = time.monotonic() + timeout_s
    offsets, still_since = end_offsets(settings), time.monotonic()
    while time.monotonic() - still_since < still_s:
        if time.monotonic() > deadline:
            raise AssertionError(f"Kafka's end offsets still move {timeout_s:.0f} s after the silence")
        time.sleep(1)
        now = end_offsets(settings)
        if now != offsets:
            offsets, still_since = now, time.monotonic()
    sent = sent_so_far(settings)
    return Snapshot(sent, offsets, int(time.time() * 1000))


def sent_so_far(settings: RuntimeSettings) -> Counter[str]:
    """The simulator's trades sent per symbol so far, without silencing it."""
    return Counter({k: int(v) for k, v in simulator_control(settings, "stats")["per_symbol"].items()})


def resume(settings: RuntimeSettings) -> None:
    simulator_control(settings, "resume")


def sent_between(before: Snapshot, after: Snapshot) -> Counter[str]:
    return Counter({s: after.sent[s] - before.sent[s] for s in after.sent if after.sent[s] - before.sent[s]})


def kafka_trades(settings: RuntimeSettings, before: Snapshot, after: Snapshot) -> list[KafkaTrade]:
    """Every trade record between the two snapshots' offsets (read_committed, each partition to its end)."""
    consumer = Consumer(
        settings.kafka_connection().client_options(
            {
                "group.id": f"window-check-{time.monotonic_ns()}",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
            }
        )
    )
    pending = {p: end for p, end in after.end_offsets.items() if end > before.end_offsets.get(p, 0)}
    consumer.assign(
        [TopicPartition(contracts.TRADES_TOPIC, p, before.end_offsets.get(p, 0)) for p in pending]
    )
    trades: list[KafkaTrade] = []
    deadline = time.monotonic() + 300
    try:
        while pending and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=5000, timeout=1.0):
                if message.error():
                    continue
                partition, offset = message.partition(), message.offset()
                if partition is None or offset is None:
                    continue
                if partition not in pending or offset >= pending[partition]:
                    continue
                trade = parse_trade(message.value(), partition, offset)
                if trade is not None:
                    trades.append(trade)
                if offset + 1 >= pending[partition]:
                    del pending[partition]
    finally:
        consumer.close()
    assert not pending, f"could not read partitions {sorted(pending)} up to the snapshot's offsets"
    return trades


def wait_until_committed(settings: RuntimeSettings, snapshot: Snapshot, timeout_s: float) -> float:
    """Waits until the Airflow-run job's checkpoint holds every offset of `snapshot`; the seconds taken."""
    started = time.monotonic()

    def committed() -> bool:
        report = stream_lag(settings.checkpoint_dir, settings.kafka_connection(), contracts.TRADES_TOPIC)
        if report is None:
            return False
        done = {p.partition: p.committed_offset or 0 for p in report.partitions}
        return all(done.get(p, 0) >= end for p, end in snapshot.end_offsets.items())

    eventually(
        committed,
        timeout_s,
        interval_s=3,
        what="the Spark job committed the window's offsets",
    )
    return time.monotonic() - started


def _days(first_ms: int, last_ms: int) -> list[datetime]:
    day, days = first_ms - first_ms % 86_400_000, []
    while day <= last_ms:
        days.append(datetime.fromtimestamp(day / 1000, UTC))
        day += 86_400_000
    return days


def stored_trades(
    session: Any,
    symbol: str,
    first_ms: int,
    last_ms: int,
    consistency: int | None = None,
) -> list[tuple[int, str, float, float]]:
    """trades_v2 rows of `symbol` with a trade time in [first_ms, last_ms]: (ts, trade_id, price, volume)."""
    from cassandra.query import SimpleStatement

    rows: list[tuple[int, str, float, float]] = []
    for day in _days(first_ms, last_ms):
        statement = SimpleStatement(
            f"SELECT timestamp, trade_id, price, volume FROM {contracts.KEYSPACE}.{contracts.TRADES_TABLE} "
            "WHERE symbol = %s AND trade_year = %s AND trade_month = %s AND trade_day = %s "
            "AND timestamp >= %s AND timestamp <= %s",
            consistency_level=consistency,
            fetch_size=5000,
        )
        first = datetime.fromtimestamp(first_ms / 1000, UTC)
        last = datetime.fromtimestamp(last_ms / 1000, UTC)
        for row in session.execute(
            statement, (symbol, day.year, day.month, day.day, first, last), timeout=60
        ):
            rows.append((_ms(row.timestamp), row.trade_id, row.price, row.volume))
    return rows


def _ms(value: datetime) -> int:
    return int(value.replace(tzinfo=UTC).timestamp() * 1000)


def stored_bar(session: Any, symbol: str, window_start_ms: int) -> Bar | None:
    """The bar trade_aggregates holds for `symbol`'s minute, as the job's `Bar`."""
    start = datetime.fromtimestamp(window_start_ms / 1000, UTC)
    row = session.execute(
        f"SELECT {BAR_COLUMNS} FROM {contracts.KEYSPACE}.{contracts.AGGREGATES_TABLE} "
        "WHERE symbol = %s AND trade_year = %s AND trade_month = %s AND window_start = %s",
        (symbol, start.year, start.month, start),
        timeout=60,
    ).one()
    return None if row is None else bar_of_row(row)


def bar_differences(session: Any, symbol: str, minutes: Iterable[int]) -> tuple[int, list[str]]:
    """Each minute's stored bar against `compute_bar` of the minute's stored trades (exact: same doubles).
    The minute the stream resumed in is still being written: a difference is looked at again, 3 times."""
    checked, found = 0, []
    for minute in sorted(minutes):
        checked += 1
        for attempt in range(4):
            rows = stored_trades(session, symbol, minute, minute + BAR_WINDOW_MS - 1)
            trades = [BarTrade(ts, trade_id, price, volume) for ts, trade_id, price, volume in rows]
            expected, stored = compute_bar(trades), stored_bar(session, symbol, minute)
            if stored == expected:
                break
            if attempt == 3:
                found.append(f"{symbol} minute {minute}: stored {stored} != recomputed {expected}")
            time.sleep(5)
    return checked, found


def compare_window(
    settings: RuntimeSettings,
    session: Any,
    before: Snapshot,
    after: Snapshot,
    lost_allowed: Mapping[str, int] | None = None,
    consistency: int | None = None,
    also_sent: Mapping[str, int] | None = None,
) -> WindowReport:
    """Every difference between the simulator, Kafka and Cassandra over the window (see the module doc).
    `lost_allowed`: symbols whose producer was killed mid-stream may miss up to that many sent trades in
    Kafka (frames it received but had not produced); Kafka and Cassandra must still agree exactly.
    `also_sent`: trades per symbol produced straight into the topic during the window besides the
    simulator's (a benchmark's load), expected in Kafka and Cassandra like the simulator's."""
    report = WindowReport(sent=sent_between(before, after) + Counter(also_sent or {}))
    by_symbol: dict[str, list[KafkaTrade]] = defaultdict(list)
    for trade in kafka_trades(settings, before, after):
        by_symbol[trade.symbol].append(trade)
    for symbol in sorted(set(report.sent) | set(by_symbol)):
        trades = by_symbol.get(symbol, [])
        report.in_kafka[symbol] = len(trades)
        keys = Counter((t.trade_ts_ms, t.trade_id) for t in trades)
        doubled = [key for key, n in keys.items() if n > 1]
        if doubled:
            report.differences.append(f"{symbol}: {len(doubled)} trades twice in Kafka, e.g. {doubled[0]}")
        missing = report.sent[symbol] - len(trades)
        allowed = (lost_allowed or {}).get(symbol, 0)
        if missing < 0 or missing > allowed:
            report.differences.append(f"{symbol}: sent {report.sent[symbol]}, Kafka holds {len(trades)}")
        if not trades:
            continue
        first, last = (
            min(t.trade_ts_ms for t in trades),
            max(t.trade_ts_ms for t in trades),
        )
        rows = stored_trades(session, symbol, first, last, consistency)
        report.in_cassandra[symbol] = len(rows)
        stored = Counter((ts, trade_id) for ts, trade_id, _, _ in rows)
        if stored != Counter(set(keys)):
            lost = set(keys) - set(stored)
            extra = set(stored) - set(keys)
            report.differences.append(
                f"{symbol}: {len(keys)} in Kafka, {len(rows)} rows: {len(lost)} missing, {len(extra)} extra"
            )
        minutes = {t.trade_ts_ms - t.trade_ts_ms % BAR_WINDOW_MS for t in trades}
        checked, bars = bar_differences(session, symbol, minutes)
        report.bars_checked += checked
        report.differences += bars
    return report
