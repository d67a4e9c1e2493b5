"""`make bench-stream`: the Spark job's sustained trades/s from Kafka into trades_v2 and trade_aggregates,
next to a raw cassandra-driver insert loop of the same rows, measured in the same run; then the end-to-end
latency (record produced → row readable in Cassandra) at a steady 1,000 trades/s.

Latency is measured outside the job: one symbol of the load ("PROBE", 10 trades/s) is polled in Cassandra
every 50 ms and each probe trade's first appearance is timed against its send time. The job starts cold; the
load runs `--warmup-seconds` (default 60) before the measured `--seconds` (default 60), so the figures are
the steady state; the warm-up's first and slowest probe are reported too. The job's own
histogram (received → written) is reported next to it. Results: printed, and var/bench/stream.json.
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent_with_args

from finnhub_pipeline.stream_process import stop_job
from services import contracts
from services.cassandra_session import cassandra_session
from services.kafka_options import KafkaConnection
from stack.airflow_api import STREAM_DAG, AirflowApi
from stack.reset_checkpoint import resume
from stack.settings import RuntimeSettings
from testkit.cassandra import create_keyspace
from testkit.kafka import create_topics
from testkit.runtime import free_port
from testkit.stream import SparkJob, job_env, produce, trade_producer, trade_value

SYMBOLS = (
    "AAPL",
    "MSFT",
    "GOOGL",
    "AMZN",
    "TSLA",
    "NVDA",
    "META",
    "BINANCE:BTCUSDT",
    "BINANCE:ETHUSDT",
    "OANDA:EUR_USD",
)


def job_metric(job: SparkJob, name: str, **labels: str) -> dict[str, float]:
    """Samples of `name` (by their `le` label for histogram buckets); {} while the job does not answer."""
    try:
        return job.metric_samples(name, **labels)
    except OSError:
        return {}


def throughput(
    connection: KafkaConnection, session: Session, name: str, workdir: Path, trades: int
) -> dict[str, Any]:
    now_ms = int(time.time() * 1000)
    rng = random.Random(1)
    values = [
        trade_value(
            f"b-{i}",
            rng.choice(SYMBOLS),
            round(rng.uniform(1, 1000), 4),
            rng.choice((0.0, 0.25, 100.0)),
            now_ms - rng.randrange(0, 3_600_000),
        )
        for i in range(trades)
    ]
    create_topics(connection, name)
    create_keyspace(session, name)
    produce(connection, name, values)  # all waiting in Kafka: the job runs flat out

    env = job_env(connection, name, name, workdir / "checkpoint-throughput", free_port())
    env["SPARK_STREAM_MAX_OFFSETS_PER_TRIGGER"] = "20000"
    job = SparkJob(env, workdir / "spark-throughput.log").start()
    try:
        # The clock starts at the first written rows, so Spark's start-up is not counted.
        def written() -> float:
            return job_metric(job, contracts.SPARK_ROWS_WRITTEN, table=contracts.TRADES_TABLE).get("", 0.0)

        while (first := written()) == 0:
            if not job.alive():
                raise SystemExit(f"the Spark job exited; see {job.log}")
            time.sleep(0.1)
        started = time.perf_counter()
        while written() < trades:
            if not job.alive():
                raise SystemExit(f"the Spark job exited; see {job.log}")
            time.sleep(0.1)
        job_s = time.perf_counter() - started
    finally:
        job.stop()
    job_rate = (trades - first) / job_s

    # The raw baseline: the same rows, inserted with prepared statements, 64 in flight (as the job's default).
    raw_keyspace = f"{name}_raw"
    create_keyspace(session, raw_keyspace)
    insert = session.prepare(
        f"INSERT INTO {raw_keyspace}.trades_v2 (symbol, trade_year, trade_month, trade_day, timestamp, "
        "trade_id, price, volume, conditions, received_at, kafka_partition, kafka_offset, ingested_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    rows = []
    for offset, value in enumerate(values):
        ts = datetime.fromtimestamp(value["trade_ts_ms"] / 1000, UTC)
        received = datetime.fromtimestamp(value["received_at_ms"] / 1000, UTC)
        rows.append(
            (
                value["symbol"],
                ts.year,
                ts.month,
                ts.day,
                ts,
                value["trade_id"],
                value["price"],
                value["volume"],
                value["conditions"],
                received,
                0,
                offset,
                received,
            )
        )
    started = time.perf_counter()
    results = execute_concurrent_with_args(session, insert, rows, concurrency=64, raise_on_first_error=True)
    raw_s = time.perf_counter() - started
    assert all(ok for ok, _ in results)
    for keyspace in (name, raw_keyspace):
        session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=120)
    return {
        "trades": trades,
        "job_trades_per_s": round(job_rate),
        "raw_cassandra_driver_rows_per_s": round(len(rows) / raw_s),
        "ratio": round(job_rate / (len(rows) / raw_s), 3),
        "goal_ratio": 0.5,
    }


def percentile(sorted_values: list[float], total: int, fraction: float) -> float | None:
    """The `fraction` percentile over `total` samples of which `sorted_values` arrived; a missing sample
    counts as slower than all (then the percentile may be None)."""
    index = int(total * fraction)
    return round(sorted_values[index], 3) if index < len(sorted_values) else None


def latency(
    connection: KafkaConnection,
    session: Session,
    name: str,
    workdir: Path,
    rate: int,
    seconds: int,
    warmup: int,
) -> dict[str, Any]:
    topic = f"{name}_lat"
    create_topics(connection, topic)
    create_keyspace(session, topic)
    env = job_env(connection, topic, topic, workdir / "checkpoint-latency", free_port())
    # The job's defaults, as deployed: trigger interval and records per batch.
    env.pop("SPARK_STREAM_TRIGGER_SECONDS")
    env.pop("SPARK_STREAM_MAX_OFFSETS_PER_TRIGGER")
    job = SparkJob(env, workdir / "spark-latency.log").start()
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    stop = threading.Event()

    def poll_probes() -> None:
        query = session.prepare(
            f"SELECT trade_id FROM {topic}.trades_v2 WHERE symbol = 'PROBE' "
            "AND trade_year = ? AND trade_month = ? AND trade_day = ? AND timestamp >= ?"
        )
        since = datetime.fromtimestamp(time.time() - 5, UTC)
        while not stop.is_set():
            now = datetime.now(UTC)
            for row in session.execute(query, (now.year, now.month, now.day, since)):
                seen.setdefault(row.trade_id, time.time())
            time.sleep(0.05)

    try:
        while not job_metric(job, contracts.SPARK_QUERY_ACTIVE).get("", 0.0):
            if not job.alive():
                raise SystemExit(f"the Spark job exited; see {job.log}")
            time.sleep(0.5)
        producer = trade_producer(connection, {"linger.ms": 5})
        poller = threading.Thread(target=poll_probes, daemon=True)
        poller.start()
        # The same steady load throughout; only the probes after the warm-up count as steady state.
        measured_from = warmup * rate
        before: dict[str, float] = {}
        started = time.time()
        for i in range(rate * (warmup + seconds)):
            if i == measured_from:
                before = job_metric(job, latency_bucket_name())
            due = started + i / rate
            if (pause := due - time.time()) > 0:
                time.sleep(pause)
            probe = i % (rate // 10) == 0
            trade_id = f"{'w' if i < measured_from else 'l'}-{i}"
            symbol = "PROBE" if probe else SYMBOLS[i % len(SYMBOLS)]
            value = trade_value(trade_id, symbol, 100.0 + (i % 50), 1.0, int(time.time() * 1000))
            producer.produce(topic, json.dumps(value).encode(), symbol.encode())
            producer.poll(0)
            if probe:
                sent[trade_id] = value["received_at_ms"] / 1000
        producer.flush(30)
        deadline = time.time() + 120
        while len(seen) < len(sent) and time.time() < deadline:
            time.sleep(0.2)
        after = job_metric(job, latency_bucket_name())
    finally:
        stop.set()
        job.stop()
        session.execute(f"DROP KEYSPACE IF EXISTS {topic}", timeout=120)
    steady = [t for t in sent if t.startswith("l-")]
    latencies = sorted(seen[t] - sent[t] for t in steady if t in seen)
    if not latencies:
        raise SystemExit(f"no probe trade appeared in Cassandra; see {job.log}")
    warmup_latencies = [seen[t] - sent[t] for t in sent if t.startswith("w-") and t in seen]
    buckets = {le: after.get(le, 0.0) - before.get(le, 0.0) for le in after}
    return {
        "rate_trades_per_s": rate,
        "seconds": seconds,
        "probes": len(steady),
        "probes_not_written_within_120_s": len(steady) - len(latencies),
        "p50_s": percentile(latencies, len(steady), 0.5),
        "p99_s": percentile(latencies, len(steady), 0.99),
        "max_s": round(latencies[-1], 3),
        "goal_p99_s": 2.0,
        "warmup_seconds": warmup,
        # From a cold start: the first probe waits for Python workers, Cassandra sessions, code generation.
        "warmup_first_probe_s": round(warmup_latencies[0], 3) if warmup_latencies else None,
        "warmup_max_s": round(max(warmup_latencies), 3) if warmup_latencies else None,
        "job_histogram_cumulative": {le: int(count) for le, count in buckets.items()},
    }


def latency_bucket_name() -> str:
    return f"{contracts.SPARK_END_TO_END_LATENCY}_bucket"


def run(args: argparse.Namespace, settings: RuntimeSettings, session: Session) -> dict[str, Any]:
    name = f"bench_stream_{int(time.time())}"
    result: dict[str, Any] = {}
    workdir = settings.var_dir / "bench" / name  # the jobs' logs and checkpoints, kept for a look
    workdir.mkdir(parents=True)
    if args.only != "latency":
        result["throughput"] = throughput(settings.kafka_connection(), session, name, workdir, args.trades)
        print(f"throughput: {result['throughput']}", flush=True)
    if args.only != "throughput":
        result["latency"] = latency(
            settings.kafka_connection(),
            session,
            name,
            workdir,
            args.rate,
            args.seconds,
            args.warmup_seconds,
        )
        print(f"latency: {result['latency']}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trades", type=int, default=100_000)
    parser.add_argument("--rate", type=int, default=1_000)
    parser.add_argument("--seconds", type=int, default=60, help="latency: seconds measured")
    parser.add_argument(
        "--warmup-seconds", type=int, default=60, help="latency: seconds of the same load before measuring"
    )
    parser.add_argument("--only", choices=("throughput", "latency"), help="run one part only")
    args = parser.parse_args()
    settings = RuntimeSettings.load_or_exit("bench-stream")
    session = cassandra_session(settings.cassandra_connection())
    api = AirflowApi(settings)
    api.set_paused(STREAM_DAG, True)
    stopped = stop_job(settings.checkpoint_dir)
    print(f"paused {STREAM_DAG} and stopped its job (pids {list(stopped.pids)}) for the benchmark")
    try:
        result = run(args, settings, session)
    finally:
        print(resume(api))
        session.cluster.shutdown()
    out = settings.var_dir / "bench" / "stream.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    if args.only:
        return
    t, lat = result["throughput"], result["latency"]
    print(f"Kafka → Spark job → Cassandra (both tables) : {t['job_trades_per_s']:>9,} trades/s")
    print(f"raw cassandra-driver insert loop            : {t['raw_cassandra_driver_rows_per_s']:>9,} rows/s")
    print(f"ratio                                       : {t['ratio']:.3f} (goal ≥ 0.5)")
    print(
        f"end-to-end latency at {lat['rate_trades_per_s']:,} trades/s      : p50 {lat['p50_s']} s, "
        f"p99 {lat['p99_s']} s, max {lat['max_s']} s over {lat['probes']} probes (goal p99 < 2 s); "
        f"{lat['probes_not_written_within_120_s']} not written within 120 s "
        f"(after {lat['warmup_seconds']} s of warm-up at the same rate; from a cold start the first "
        f"probe took {lat['warmup_first_probe_s']} s)"
    )
    print(f"written to {out}")


if __name__ == "__main__":
    main()
