"""`make bench-stream`: the Spark job's sustained trades/s from Kafka into trades_v2 and trade_aggregates,
next to the fastest plain cassandra-driver writer of the same rows on this machine, in the same run; then the
end-to-end latency (record produced → row readable, and → bar reflecting it) at a steady 1,000 trades/s.

Throughput:
- Input: `--trades` trades (10 symbols, trade times over the last hour in time order: ~600 bars), all
  waiting in Kafka before the job starts, as after an outage, so it runs flat out in batches of its deployed
  size (SPARK_STREAM_MAX_OFFSETS_PER_TRIGGER); its clock runs from its first batch written to its last (the
  first batch, with Spark's start-up, is not timed), and the trades count once although each also updates
  a bar.
- Fast raw writer: the same trade rows, and their bars computed once in Python (`bars.compute_bar`, not
  timed), upserted with prepared statements from one Python process as UNLOGGED batches that each hold one
  Cassandra partition, many in flight. Batch size and concurrency are chosen by measuring: a sweep of each
  over `--tune-trades` rows before the rounds (printed). Its clock runs from the first request built to the
  last acknowledged, batch building included.
- Per-row loop: one prepared statement per row, 64 in flight (the baseline before), once over
  `--tune-trades` rows, as a second line.
- CPU: over each side's timed window, the machine's busy cores and the cores (and CPU-µs a row) of Cassandra,
  Kafka, the Spark job (its JVM; on a cluster also the workers and their executors) and the fast writer's
  own process (`benchmarks.cpu_use`), each side's rounds together: which process bounds each side.
- Rounds: `--rounds` (3) job runs and fast-writer runs alternate, each into a fresh keyspace (and topic), so
  both meet the same spells of load on this shared machine; each side's figure is the median of its runs.

Latency (`--latency-runs`, 3 runs, each reported): the job starts cold on a topic of its own with its
deployed defaults; the load runs `--warmup-seconds` (60) before the measured `--seconds` (60). Ten trades
a second are probes ("PROBE"), polled in Cassandra every 50 ms (`testkit.stream.Probes`). The first probe's
latency is the cold start (it is sent when the query is up); the time from spark-submit to the query being
up is reported too. Results: printed, and var/bench/stream.json; the machine's load average with each.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent, execute_concurrent_with_args
from cassandra.query import BatchStatement, BatchType, PreparedStatement

from benchmarks.cpu_use import CpuMeter, CpuUse, describe, mean_use
from benchmarks.figures import load_average, probe_latency
from finnhub_pipeline.stream_process import stop_job
from jobs.spark_stream import cql
from jobs.spark_stream.bars import BarTrade, compute_bar, window_start_ms
from jobs.spark_stream.settings import StreamSettings
from services import contracts
from services.cassandra_session import CassandraConnection, cassandra_session
from services.kafka_options import KafkaConnection
from stack.airflow_api import STREAM_DAG, AirflowApi
from stack.reset_checkpoint import resume
from stack.settings import RuntimeSettings
from testkit.cassandra import create_keyspace
from testkit.kafka import create_topics
from testkit.runtime import free_port, stack_supervisor
from testkit.stream import (
    LOAD_SYMBOLS,
    Probes,
    SparkJob,
    SteadyLoad,
    job_env,
    matching_samples,
    produce,
    trade_value,
)

BATCH_SIZES = (25, 50, 100, 200)
CONCURRENCIES = (8, 16, 32, 64, 128)
"""Neither batches of 400 nor 256 in flight: on 2026-12-03, rounds of 480,000 rows written that way made
cassandra-driver's `execute_concurrent` fail with a RecursionError among NoHostAvailable errors (400 and
256), then ran the single node's 1 GiB heap out (OutOfMemoryError, Cassandra aborted; 400 and 128). A
writer that brings the node down is not the fastest; 200 rows is the job's own batch (BATCH_ROWS)."""
WRITE_ATTEMPTS = 5
"""The fast writer's tries per batch: a cluster on 2 cores times out some writes at high concurrency."""
FAST_WRITER = "fast writer"
"""The fast writer's CPU group and its entry in the results' `cpu`, beside each job placement's."""
TUNING_TRIES = 3
"""Trials of each setting: with one, a noisy trial chose batches of 50 once (29,364 rows/s in the rounds
against 38,870-47,391 with 200)."""
TUNING_CONCURRENCY = 64
"""The concurrency the batch-size sweep runs at (the job's default); the concurrency sweep then runs at the
best batch size."""


PROGRESS_POLL_SECONDS = 0.5
"""How often a throughput round reads the job's progress. Each read renders the job's metrics in its driver's
Python, under the lock its writer needs: read every 50 ms, that was 13 % of the driver's samples. A round is
timed by the job's own completion times, so the poll's period does not blur it."""


def job_samples(job: SparkJob, wanted: dict[str, dict[str, str]]) -> dict[str, float]:
    """The value of each metric named in `wanted` whose labels include `wanted`'s, summed, from one read of
    the job's metrics; {} while the job does not answer."""
    try:
        text = job.metrics_text()
    except OSError:
        return {}
    found: dict[str, float] = {}
    for sample in matching_samples(text, wanted):
        found[sample.name] = found.get(sample.name, 0.0) + sample.value
    return found


def job_metric(job: SparkJob, name: str, **labels: str) -> dict[str, float]:
    """Samples of `name` (by their `le` label for histogram buckets); {} while the job does not answer."""
    try:
        return job.metric_samples(name, **labels)
    except OSError:
        return {}


# --- throughput: the rows, the fast raw writer, the job -----------------------------------------------------
BACKLOG_MS = 3_600_000
"""The trade times of a throughput round span the last hour."""


def bench_values(trades: int) -> list[dict[str, Any]]:
    """`trades` trades of the last hour in time order, as a backlog waits in Kafka after an outage: a batch
    of the job then touches the few minutes it holds, not every minute of the hour."""
    start_ms = int(time.time() * 1000) - BACKLOG_MS
    rng = random.Random(1)
    return [
        trade_value(
            f"b-{i}",
            rng.choice(LOAD_SYMBOLS),
            round(rng.uniform(1, 1000), 4),
            rng.choice((0.0, 0.25, 100.0)),
            start_ms + i * BACKLOG_MS // trades,
        )
        for i in range(trades)
    ]


class Rows:
    """`values` as the job binds them: trade rows for cql.TRADES_INSERT, bar rows for cql.BAR_UPSERT."""

    def __init__(self, values: Sequence[dict[str, Any]]) -> None:
        written_ms = int(time.time() * 1000)
        self.trades: list[tuple[Any, ...]] = []
        windows: dict[cql.Window, list[BarTrade]] = defaultdict(list)
        for offset, value in enumerate(values):
            ts = value["trade_ts_ms"]
            day = time.gmtime(ts // 1000)
            self.trades.append(
                (
                    value["symbol"],
                    day.tm_year,
                    day.tm_mon,
                    day.tm_mday,
                    ts,
                    value["trade_id"],
                    value["price"],
                    value["volume"],
                    value["conditions"],
                    value["received_at_ms"],
                    0,
                    offset,
                    written_ms,
                )
            )
            window = cql.Window(value["symbol"], day.tm_year, day.tm_mon, day.tm_mday, window_start_ms(ts))
            windows[window].append(BarTrade(ts, value["trade_id"], value["price"], value["volume"]))
        self.bars = [
            cql.bar_params(window, compute_bar(trades), written_ms, written_ms * 1000)
            for window, trades in windows.items()
        ]


def partition_batches(
    statement: PreparedStatement, rows: Sequence[tuple[Any, ...]], key_columns: int, batch_rows: int
) -> Iterator[tuple[BatchStatement, tuple[()]]]:
    """UNLOGGED batches of at most `batch_rows` rows of one Cassandra partition each, built as they are
    sent (execute_concurrent pulls them lazily)."""
    by_partition: dict[tuple[Any, ...], list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        by_partition[row[:key_columns]].append(row)
    for partition_rows in by_partition.values():
        for start in range(0, len(partition_rows), batch_rows):
            batch = BatchStatement(
                batch_type=BatchType.UNLOGGED, consistency_level=statement.consistency_level
            )
            for row in partition_rows[start : start + batch_rows]:
                batch.add(statement, row)
            yield batch, ()


def fast_write(session: Session, rows: Rows, batch_rows: int, concurrency: int) -> float:
    """Seconds to upsert every trade row and bar row as per-partition UNLOGGED batches, `concurrency` in
    flight, from this process; `session` is on the keyspace to write."""
    trade_insert, bar_upsert = session.prepare(cql.TRADES_INSERT), session.prepare(cql.BAR_UPSERT)

    def statements() -> Iterator[tuple[BatchStatement, tuple[()]]]:
        yield from partition_batches(trade_insert, rows.trades, cql.TRADES_PARTITION_KEY_COLUMNS, batch_rows)
        yield from partition_batches(bar_upsert, rows.bars, cql.BARS_PARTITION_KEY_COLUMNS, batch_rows)

    started = time.perf_counter()
    pending, errors = list(statements()), []
    for _ in range(WRITE_ATTEMPTS):
        results = execute_concurrent(session, pending, concurrency=concurrency, raise_on_first_error=False)
        # A timed-out batch is sent again, as any writer of idempotent upserts would; the clock runs on.
        errors = [error for ok, error in results if not ok]
        pending = [item for item, (ok, _) in zip(pending, results, strict=True) if not ok]
        if not pending:
            return time.perf_counter() - started
    raise SystemExit(f"the fast writer failed {len(pending)} batches {WRITE_ATTEMPTS} times: {errors[0]}")


def per_row_write(session: Session, rows: Rows) -> float:
    """Seconds for one prepared statement per row, 64 in flight (the baseline this bench printed before)."""
    trade_insert, bar_upsert = session.prepare(cql.TRADES_INSERT), session.prepare(cql.BAR_UPSERT)
    started = time.perf_counter()
    for statement, params in ((trade_insert, rows.trades), (bar_upsert, rows.bars)):
        results = execute_concurrent_with_args(session, statement, params, concurrency=64)
        assert all(ok for ok, _ in results)
    return time.perf_counter() - started


class Keyspaces:
    """Fresh keyspaces with the pipeline's schema, a session on each, all dropped at the end."""

    def __init__(
        self, admin: Session, connection: CassandraConnection, prefix: str, replication_factor: int = 1
    ) -> None:
        self.admin, self.connection, self.prefix = admin, connection, prefix
        self.replication_factor = replication_factor
        self.created: list[tuple[str, Session]] = []

    def new(self, suffix: str) -> Session:
        keyspace = f"{self.prefix}_{suffix}"
        create_keyspace(self.admin, keyspace, self.replication_factor)
        session = cassandra_session(self.connection, keyspace)
        self.created.append((keyspace, session))
        return session

    def drop_all(self) -> None:
        for keyspace, session in self.created:
            session.cluster.shutdown()
            self.admin.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=120)
        self.created.clear()


def tune(keyspaces: Keyspaces, rows: Rows) -> dict[str, Any]:
    """Batch size (at TUNING_CONCURRENCY), then concurrency (at the best size): the fastest of each, each
    setting's rate the best of TUNING_TRIES."""
    session = keyspaces.new("tune")
    fast_write(session, rows, 100, TUNING_CONCURRENCY)  # warm up: connections, prepared statements, JIT

    def rate(batch_rows: int, concurrency: int) -> float:
        """The best of TUNING_TRIES: noise on this machine only ever slows a trial down."""
        best = min(fast_write(session, rows, batch_rows, concurrency) for _ in range(TUNING_TRIES))
        return len(rows.trades) / best

    by_size = {size: rate(size, TUNING_CONCURRENCY) for size in BATCH_SIZES}
    batch_rows = max(by_size, key=lambda size: by_size[size])
    by_concurrency = {c: rate(batch_rows, c) for c in CONCURRENCIES}
    concurrency = max(by_concurrency, key=lambda c: by_concurrency[c])
    print(
        f"fast writer tuning over {len(rows.trades):,} rows (load average {load_average()}): rows/s by batch "
        f"size at concurrency {TUNING_CONCURRENCY}: "
        + ", ".join(f"{size}: {rate:,.0f}" for size, rate in by_size.items())
        + f"; by concurrency at batch size {batch_rows}: "
        + ", ".join(f"{c}: {rate:,.0f}" for c, rate in by_concurrency.items())
        + f"; chosen: batch size {batch_rows}, concurrency {concurrency}",
        flush=True,
    )
    return {
        "rows": len(rows.trades),
        "rows_per_s_by_batch_size": {str(k): round(v) for k, v in by_size.items()},
        "rows_per_s_by_concurrency": {str(k): round(v) for k, v in by_concurrency.items()},
        "batch_rows": batch_rows,
        "concurrency": concurrency,
    }


@dataclass(frozen=True)
class Placement:
    """Where a job run's executors go: Spark's local mode in the driver, or `workers` of the standalone
    cluster's workers (spark.cores.max caps the application at their cores)."""

    name: str
    master: str = "local[*]"
    options: tuple[str, ...] = ()
    replication_factor: int = 1


def placements(settings: RuntimeSettings) -> list[Placement]:
    """TOPOLOGY=single: the job in local mode. TOPOLOGY=cluster: on one worker, then on all of them, into
    keyspaces replicated like `trading` and at the deployed consistency level."""
    if not settings.cluster:
        return [Placement("job")]
    workers = int(settings.spark_workers or 1)
    return [
        Placement(
            f"job on {n} worker{'s' if n > 1 else ''}",
            settings.spark_master_url,
            (
                "--conf",
                f"spark.cores.max={n * settings.spark_worker_cores}",
                "--executor-cores",
                str(settings.spark_executor_cores),
                "--executor-memory",
                settings.spark_executor_memory,
            ),
            int(settings.cassandra_replication_factor or 1),
        )
        for n in sorted({1, workers})
    ]


def launch(
    connection: KafkaConnection,
    cassandra: CassandraConnection,
    name: str,
    workdir: Path,
    placement: Placement,
    overrides: dict[str, str] | None = None,
) -> SparkJob:
    """The job started on topic and keyspace `name` with its deployed defaults (trigger, records per batch,
    and on a replicated keyspace the connection's consistency level), unless `overrides` says otherwise."""
    env = job_env(connection, name, name, workdir / f"checkpoint-{name}", free_port(), cassandra)
    env.pop("SPARK_STREAM_TRIGGER_SECONDS")
    env.pop("SPARK_STREAM_MAX_OFFSETS_PER_TRIGGER")
    if placement.replication_factor > 1:
        env.pop("CASSANDRA_CONSISTENCY")  # a quorum of the replicas, as deployed
    env.update(overrides or {})
    job = SparkJob(env, workdir / f"spark-{name}.log", master=placement.master, options=placement.options)
    return job.start()


def job_overrides(args: argparse.Namespace) -> dict[str, str]:
    """`--job-env NAME=VALUE` settings of every job run (throughput and latency)."""
    return dict(pair.split("=", 1) for pair in args.job_env)


TIMED_BATCHES = 2
"""Full batches of the job a throughput round times, at least (its first batch is not timed)."""


def check_round_size(trades: int, overrides: dict[str, str]) -> None:
    """Stop with one line unless `trades` fill the job's first batch and TIMED_BATCHES more."""
    variable = "SPARK_STREAM_MAX_OFFSETS_PER_TRIGGER"
    cap = int(overrides.get(variable, StreamSettings.model_fields["max_offsets_per_trigger"].default))
    if trades < (1 + TIMED_BATCHES) * cap:
        raise SystemExit(
            f"bench-stream: --trades {trades:,} is fewer than {1 + TIMED_BATCHES} of the job's batches "
            f"({variable}={cap:,}), and its first batch is not timed: raise --trades or lower the batch "
            f"with --job-env {variable}=..."
        )


def program_processes(settings: RuntimeSettings, prefix: str) -> list[psutil.Process]:
    """The running processes of the stack's programs named `prefix` or `prefix-N` (one per node)."""
    found = []
    for name, state in stack_supervisor(settings).programs().items():
        if state.state == "RUNNING" and state.pid and re.fullmatch(rf"{prefix}(-[0-9]+)?", name):
            with contextlib.suppress(psutil.NoSuchProcess):
                found.append(psutil.Process(state.pid))
    return found


def engine_processes(settings: RuntimeSettings) -> dict[str, list[psutil.Process]]:
    """Cassandra's and Kafka's processes: the CPU groups both sides share."""
    return {
        "cassandra": program_processes(settings, "cassandra"),
        "kafka": program_processes(settings, "kafka"),
    }


def job_round(
    connection: KafkaConnection,
    cassandra: CassandraConnection,
    admin: Session,
    name: str,
    workdir: Path,
    values: Sequence[dict[str, Any]],
    placement: Placement,
    engines: dict[str, list[psutil.Process]],
    workers: list[psutil.Process],
    overrides: dict[str, str] | None = None,
) -> tuple[float, CpuUse]:
    """One job run over `values` waiting in a fresh topic: trades/s from its first rows written to its last
    (each batch counts its trades once its bars are written too), and the CPU use over that window."""
    create_topics(connection, name)
    create_keyspace(admin, name, placement.replication_factor)
    produce(connection, name, list(values))
    job = launch(connection, cassandra, name, workdir, placement, overrides)
    try:

        def progress() -> tuple[float, float]:
            """Trades written and when the last batch completed (Unix time, the job's clock), one scrape."""
            written, completed = contracts.SPARK_ROWS_WRITTEN, contracts.SPARK_LAST_BATCH_COMPLETED
            samples = job_samples(job, {written: {"table": contracts.TRADES_TABLE}, completed: {}})
            return samples.get(written, 0.0), samples.get(completed, 0.0)

        def wait_for(enough: Callable[[float], bool]) -> tuple[float, float]:
            """The first progress that is `enough` and read twice in a row: no batch ended between the two
            reads, so the completion time read is that of the batch that brought the count."""
            last = (-1.0, 0.0)
            while not (enough((now := progress())[0]) and now == last):
                if not job.alive():
                    raise SystemExit(f"the Spark job exited; see {job.log}")
                last = now
                time.sleep(PROGRESS_POLL_SECONDS)
            return now

        first, first_completed = wait_for(lambda written: written > 0)
        assert job.popen is not None
        # In local mode the executors are the job's own JVM; on a cluster, the workers' children.
        meter = CpuMeter({**engines, "spark job": [psutil.Process(job.popen.pid), *workers]})
        meter.start()
        _, last_completed = wait_for(lambda written: written >= len(values))
        seconds = last_completed - first_completed
        cpu = meter.stop(len(values) - int(first))
    finally:
        job.stop()
        admin.execute(f"DROP KEYSPACE IF EXISTS {name}", timeout=120)
    return (len(values) - first) / seconds, cpu


def throughput(
    settings: RuntimeSettings, admin: Session, name: str, workdir: Path, args: argparse.Namespace
) -> dict[str, Any]:
    check_round_size(args.trades, job_overrides(args))
    values = bench_values(args.trades)
    rows = Rows(values)
    where = placements(settings)
    keyspaces = Keyspaces(admin, settings.cassandra_connection(), f"{name}_raw", where[0].replication_factor)
    try:
        tuning = tune(keyspaces, Rows(values[: args.tune_trades]))
        keyspaces.drop_all()
        job_rates: dict[str, list[float]] = {placement.name: [] for placement in where}
        fast_rates: list[float] = []
        cpu: dict[str, list[CpuUse]] = defaultdict(list)
        loads: list[str] = []
        engines = engine_processes(settings)
        workers = program_processes(settings, "spark-worker")
        for attempt in range(args.rounds):
            for number, placement in enumerate(where):
                rate, job_cpu = job_round(
                    settings.kafka_connection(),
                    settings.cassandra_connection(),
                    admin,
                    f"{name}_job{attempt}_{number}",
                    workdir,
                    values,
                    placement,
                    engines,
                    workers,
                    job_overrides(args),
                )
                job_rates[placement.name].append(rate)
                cpu[placement.name].append(job_cpu)
            session = keyspaces.new(f"fast{attempt}")
            meter = CpuMeter({**engines, FAST_WRITER: [psutil.Process()]})
            meter.start()
            seconds = fast_write(session, rows, tuning["batch_rows"], tuning["concurrency"])
            cpu[FAST_WRITER].append(meter.stop(len(rows.trades)))
            fast_rates.append(len(rows.trades) / seconds)
            keyspaces.drop_all()
            loads.append(load_average())
            jobs = ", ".join(f"{job} {rates[-1]:,.0f} trades/s" for job, rates in job_rates.items())
            print(
                f"round {attempt + 1}: {jobs}, fast writer {fast_rates[-1]:,.0f} rows/s "
                f"(load average {loads[-1]})",
                flush=True,
            )
        per_row_rows = Rows(values[: args.tune_trades])
        per_row = len(per_row_rows.trades) / per_row_write(keyspaces.new("per_row"), per_row_rows)
    finally:
        keyspaces.drop_all()
    result = throughput_result(args.trades, len(rows.bars), tuning, job_rates, fast_rates, loads, per_row)
    return result | {"cpu": {side: mean_use(uses).as_json() for side, uses in cpu.items()}}


def throughput_result(
    trades: int,
    bars: int,
    tuning: dict[str, Any],
    job_rates: dict[str, list[float]],
    fast_rates: list[float],
    loads: list[str],
    per_row: float,
) -> dict[str, Any]:
    """The figures of a throughput run: medians, the ratio against the fast writer (of the job on every
    worker, the last placement), and on a cluster each placement's median and the last over the first."""
    medians = {job: statistics.median(rates) for job, rates in job_rates.items()}
    job_rate, fast_rate = list(medians.values())[-1], statistics.median(fast_rates)
    result: dict[str, Any] = {
        "trades": trades,
        "bars": bars,
        "fast_writer_tuning": tuning,
        "job_trades_per_s_by_round": [round(rate) for rate in list(job_rates.values())[-1]],
        "fast_writer_rows_per_s_by_round": [round(rate) for rate in fast_rates],
        "load_average_by_round": loads,
        "job_trades_per_s": round(job_rate),
        "fast_writer_rows_per_s": round(fast_rate),
        "ratio": round(job_rate / fast_rate, 3),
        "goal_ratio": 0.5,
        "per_row_loop_rows_per_s": round(per_row),
        "ratio_to_per_row_loop": round(job_rate / per_row, 3),
    }
    if len(medians) > 1:
        result["placements"] = {
            job: {"trades_per_s_by_round": [round(rate) for rate in job_rates[job]], "trades_per_s": round(m)}
            for job, m in medians.items()
        }
        first = next(iter(medians.values()))
        result["scaling"] = round(job_rate / first, 3)
    return result


# --- latency ------------------------------------------------------------------------------------------------
def latency_run(
    settings: RuntimeSettings,
    admin: Session,
    name: str,
    workdir: Path,
    args: argparse.Namespace,
    env_overrides: dict[str, str],
) -> dict[str, Any]:
    connection = settings.kafka_connection()
    placement = placements(settings)[-1]  # on a cluster: every worker
    create_topics(connection, name)
    create_keyspace(admin, name, placement.replication_factor)
    launched = time.time()
    job = launch(connection, settings.cassandra_connection(), name, workdir, placement, env_overrides)
    try:
        while not job_metric(job, contracts.SPARK_QUERY_ACTIVE).get("", 0.0):
            if not job.alive():
                raise SystemExit(f"the Spark job exited; see {job.log}")
            time.sleep(0.1)
        query_up_s = time.time() - launched
        with Probes(admin, name) as probes:
            load = SteadyLoad(connection, name, probes)
            load.run(args.rate, args.warmup_seconds, "w")
            before = job_metric(job, latency_bucket_name())
            load.run(args.rate, args.seconds, "l")
            load.flush()
            probes.wait(120)
            after = job_metric(job, latency_bucket_name())
            warmup, steady = probes.times("w-"), probes.times("l-")
    finally:
        job.stop()
        admin.execute(f"DROP KEYSPACE IF EXISTS {name}", timeout=120)
    first = warmup[0] if warmup else None
    return {
        "rate_trades_per_s": args.rate,
        "seconds": args.seconds,
        "probes": len(steady),
        **probe_latency(steady),
        "warmup_seconds": args.warmup_seconds,
        "query_up_after_launch_s": round(query_up_s, 3),
        # From a cold start: the first probe waits for Python workers, Cassandra sessions, code generation.
        "first_probe_row_s": round(first.row - first.sent, 3) if first and first.row else None,
        "first_probe_bar_s": round(first.bar - first.sent, 3) if first and first.bar else None,
        "job_histogram_cumulative": {le: int(after.get(le, 0) - before.get(le, 0)) for le in after},
        "load_average": load_average(),
        "env": env_overrides,
    }


def latency_bucket_name() -> str:
    return f"{contracts.SPARK_END_TO_END_LATENCY}_bucket"


def latency(
    settings: RuntimeSettings, admin: Session, name: str, workdir: Path, args: argparse.Namespace
) -> list[dict[str, Any]]:
    overrides = job_overrides(args)
    runs = []
    for run in range(args.latency_runs):
        runs.append(latency_run(settings, admin, f"{name}_lat{run}", workdir, args, overrides))
        print(f"latency run {run + 1}: {describe_latency(runs[-1])}", flush=True)
    return runs


def describe_latency(run: dict[str, Any]) -> str:
    row, bar = run["row"], run["bar"]
    return (
        f"row p50 {row['p50_s']} s, p99 {row['p99_s']} s, max {row['max_s']} s; bar p50 {bar['p50_s']} s, "
        f"p99 {bar['p99_s']} s, max {bar['max_s']} s over {run['probes']} probes ({row['missing']} rows and "
        f"{bar['missing']} bars not seen within 120 s); cold start: query up "
        f"{run['query_up_after_launch_s']} s after launch, first probe row {run['first_probe_row_s']} s "
        f"(load average {run['load_average']})"
    )


# --- the run --------------------------------------------------------------------------------------------
def with_stream_paused(settings: RuntimeSettings, body: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run `body` with the stack's own Spark job stopped (its DAG paused), so it does not share the cores."""
    api = AirflowApi(settings)
    api.set_paused(STREAM_DAG, True)
    stopped = stop_job(settings.checkpoint_dir)
    print(
        f"paused {STREAM_DAG} and stopped its job (pids {list(stopped.pids)}) for the benchmark", flush=True
    )
    try:
        return body()
    finally:
        print(resume(api), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--trades", type=int, default=480_000, help="throughput: trades per round (4 of the job's batches)"
    )
    parser.add_argument("--tune-trades", type=int, default=40_000, help="throughput: rows per tuning trial")
    parser.add_argument("--rounds", type=int, default=3, help="throughput: alternating rounds")
    parser.add_argument("--rate", type=int, default=1_000, help="latency: trades/s")
    parser.add_argument("--seconds", type=int, default=60, help="latency: seconds measured")
    parser.add_argument(
        "--warmup-seconds", type=int, default=60, help="latency: seconds of the same load before measuring"
    )
    parser.add_argument("--latency-runs", type=int, default=3)
    parser.add_argument(
        "--job-env", action="append", default=[], metavar="NAME=VALUE", help="a job setting, every run"
    )
    parser.add_argument("--only", choices=("throughput", "latency"), help="run one part only")
    args = parser.parse_args()
    settings = RuntimeSettings.load_or_exit("bench-stream")
    admin = cassandra_session(settings.cassandra_connection())
    name = f"bench_stream_{int(time.time())}"
    workdir = settings.var_dir / "bench" / name  # the jobs' logs and checkpoints, kept for a look
    workdir.mkdir(parents=True)

    def run() -> dict[str, Any]:
        result: dict[str, Any] = {}
        if args.only != "latency":
            result["throughput"] = throughput(settings, admin, name, workdir, args)
        if args.only != "throughput":
            result["latency"] = latency(settings, admin, name, workdir, args)
        return result

    try:
        result = with_stream_paused(settings, run)
    finally:
        admin.cluster.shutdown()
    out = settings.var_dir / "bench" / ("stream.json" if not args.only else f"stream-{args.only}.json")
    out.write_text(json.dumps(result, indent=2) + "\n")
    if "throughput" in result:
        t = result["throughput"]
        tuning = t["fast_writer_tuning"]
        rounds = f"median of {args.rounds}"
        print(
            f"Kafka → Spark job → Cassandra (both tables) : {t['job_trades_per_s']:>9,} trades/s ({rounds})"
        )
        print(
            f"fast raw cassandra-driver writer            : {t['fast_writer_rows_per_s']:>9,} rows/s "
            f"({rounds}; per-partition UNLOGGED batches of {tuning['batch_rows']}, "
            f"{tuning['concurrency']} in flight)"
        )
        print(f"ratio                                       : {t['ratio']:.3f} (goal ≥ 0.5)")
        for side, use in t["cpu"].items():
            print(f"CPU, {side:<39}: {describe(use)}")
        for job, figures in t.get("placements", {}).items():
            print(f"{job:<44}: {figures['trades_per_s']:>9,} trades/s ({rounds})")
        if "scaling" in t:
            print(f"all workers ÷ one worker                    : {t['scaling']:.3f}")
        print(
            f"per-row insert loop (64 in flight)          : {t['per_row_loop_rows_per_s']:>9,} rows/s "
            f"(job ÷ it: {t['ratio_to_per_row_loop']:.2f})"
        )
    for number, run_result in enumerate(result.get("latency", []), 1):
        rate = run_result["rate_trades_per_s"]
        print(f"latency at {rate:,} trades/s, run {number}: {describe_latency(run_result)}")
    print(f"written to {out} (load average now {load_average()})")


if __name__ == "__main__":
    main()
