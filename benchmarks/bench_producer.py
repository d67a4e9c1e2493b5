"""`make bench-producer`: trades/s from the simulator through the producer into Kafka, next to a raw
confluent-kafka produce loop of the same records into the same broker, measured in the same run.

What is measured:
- Pipeline: the producer service as supervisord runs it (`python -m services.producer`, default settings,
  its own topics) reads trade frames from the simulator over a WebSocket, parses and validates every trade,
  checks each frame against the dedupe memory, encodes the records and produces them with acks=all and
  idempotence. The clock runs from the simulator sending the first frame until the broker's end offsets
  hold every trade (acknowledged, readable).
- Input: `--trades` trades of the simulator's own market (seed 1, the symbols below, frames of 1,000 trades
  as the live simulator sends at full rate, stamped now), generated before the clock starts and replayed
  by the simulator flat out (SIMULATOR_REPLAY_SPEED=0). Generating trades live costs the simulator nearly
  as much CPU per trade as the producer spends (4.5 µs against 5.9 µs, measured here), on the same 2 cores;
  replaying pre-built frames (0.05 µs) measures the producer instead of the generator. `--source live`
  measures the old way, generation included.
- Raw baseline: a plain `produce()` + `poll(0)` loop over the very records the producer wrote (read back
  from its topic), with the producer's Kafka settings (`producer_config`), until every one is acknowledged.
- Rounds: `--rounds` (3) pipeline runs and raw runs alternate, each into fresh topics (deleted at the end),
  so that both sides meet the same spells of load on this shared machine; each side's figure is the median
  of its runs.

The ratio (median producer trades/s ÷ median raw trades/s) is the figure to compare across machines; the
goal is at least 0.5. The CPU each side used per trade (every thread of the process, librdkafka's included;
the broker's is in neither) is reported beside it. Results are printed and written to
var/bench/producer.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from confluent_kafka import Consumer, Producer, TopicPartition

from services.kafka_options import KafkaConnection
from services.producer.kafka_sink import producer_config
from services.producer.recording import FrameRecorder
from services.producer.settings import ProducerSettings
from services.producer.simulator.market import Market, trade_frame
from stack.settings import RuntimeSettings
from testkit.kafka import create_topics, delete_topics_with_prefix
from testkit.producer import start_run

PARTITIONS = 3
SYMBOLS = "AAPL,GOOGL,MSFT,AMZN,TSLA,BINANCE:BTCUSDT,BINANCE:ETHUSDT,OANDA:EUR_USD"
SEED = 1  # the simulator's default seed: the same market it generates live
TRADES_PER_FRAME = (
    1000  # SIMULATOR_MAX_TRADES_PER_FRAME's default: what the live simulator sends at full rate
)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class Round(NamedTuple):
    """One pipeline run: its duration, the CPU its two processes used, and the topic it wrote."""

    seconds: float
    producer_cpu_s: float
    simulator_cpu_s: float
    trades_topic: str


def write_frames(path: Path, trades: int) -> None:
    """The simulator's market as a recording of trade frames, each stamped 1 ms after the previous one."""
    market_trades = Market(SEED).take(sorted(SYMBOLS.split(",")), trades)
    recorder = FrameRecorder(path)
    stamp_ms = time.time_ns() // 1_000_000
    for start in range(0, trades, TRADES_PER_FRAME):
        stamp_ms += 1
        recorder.record(stamp_ms, trade_frame(market_trades[start : start + TRADES_PER_FRAME], stamp_ms))
    recorder.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def delivered(consumer: Consumer, topic: str) -> int:
    """How many records the topic holds: the sum of its partitions' end offsets."""
    return sum(
        consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(PARTITIONS)
    )


def read_back(connection: KafkaConnection, topic: str, count: int) -> list[tuple[bytes | None, bytes | None]]:
    """The topic's records as (key, value) bytes: the raw loop's input."""
    consumer = Consumer(
        connection.client_options({"group.id": f"bench-{topic}", "enable.auto.commit": False})
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    records: list[tuple[bytes | None, bytes | None]] = []
    deadline = time.monotonic() + 120
    while len(records) < count and time.monotonic() < deadline:
        for message in consumer.consume(10_000, timeout=1):
            if message.error() is None:
                records.append((message.key(), message.value()))
    consumer.close()
    return records


def raw_loop(
    connection: KafkaConnection, topic: str, records: list[tuple[bytes | None, bytes | None]]
) -> float:
    """Seconds for a plain produce loop of `records`, with the producer's Kafka settings, until all acked."""
    settings = ProducerSettings.model_validate(connection.as_settings())
    producer = Producer(producer_config(settings))
    failures = []

    def on_delivery(error: object, _message: object) -> None:
        if error is not None:
            failures.append(error)

    started = time.perf_counter()
    for key, value in records:
        while True:
            try:
                producer.produce(topic, value, key, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    producer.flush(120)
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"raw loop: {len(failures)} deliveries failed, first: {failures[0]}")
    return elapsed


def pipeline_run(
    workdir: Path, connection: KafkaConnection, name: str, source: str, frames: Path, trades: int
) -> Round:
    """One simulator → producer → Kafka run on topics of its own: seconds, CPU of each process, topic."""
    simulator_env = {"SIMULATOR_SENT_LOG": ""}
    if source == "replay":
        simulator_env |= {"SIMULATOR_REPLAY_FILE": str(frames), "SIMULATOR_REPLAY_SPEED": "0"}
    else:
        simulator_env |= {"SIMULATOR_MAX_TRADES": str(trades), "SIMULATOR_RATE": "1000000"}
    run = start_run(workdir, connection, name, SYMBOLS, simulator_env, {})
    # Progress from the broker's end offsets, through one consumer, so that polling costs the producer
    # nothing.
    offsets = Consumer(connection.client_options({"group.id": f"{name}-offsets"}))
    try:
        run.simulator.wait_ready()
        # The clock starts when the simulator sends the first frame (replay), or when the producer is
        # connected (live: from then on the simulator sends flat out).
        while True:
            stats = run.simulator.control("stats")
            if source == "replay" and stats["replay_started_at"] is not None:
                started = float(stats["replay_started_at"])
                break
            if source == "live" and stats["connections"]:
                started = time.time()
                break
            time.sleep(0.005)
        cpu_before = {p.pid: cpu_seconds(p.pid) for p in (run.producer, run.simulator)}
        while delivered(offsets, run.trades_topic) < trades:
            time.sleep(0.01)
            if time.time() - started > 600:
                raise SystemExit(f"producer did not deliver {trades} trades in 600 s; log {run.producer.log}")
        seconds = time.time() - started
        cpu = {p.pid: cpu_seconds(p.pid) - cpu_before[p.pid] for p in (run.producer, run.simulator)}
    finally:
        offsets.close()
        run.stop()
    return Round(seconds, cpu[run.producer.pid], cpu[run.simulator.pid], run.trades_topic)


def run_rounds(
    args: argparse.Namespace,
    connection: KafkaConnection,
    name: str,
    pipeline: list[Round],
    raw_s: list[float],
    raw_cpu_s: list[float],
) -> None:
    """Alternate pipeline and raw runs, appending each run's figures to the lists given."""
    with tempfile.TemporaryDirectory() as workdir:
        frames = Path(workdir) / "frames.jsonl"
        if args.source == "replay":
            write_frames(frames, args.trades)
        # The machine is shared and noisy: pipeline and raw runs alternate, so that both sides see the
        # same spells of load, and each side's median counts.
        for attempt in range(args.rounds):
            round_dir = Path(workdir) / f"round{attempt}"
            pipeline.append(
                pipeline_run(round_dir, connection, f"{name}_{attempt}", args.source, frames, args.trades)
            )
            records = read_back(connection, pipeline[-1].trades_topic, args.trades)
            if len(records) != args.trades:
                raise SystemExit(
                    f"read back {len(records)} of {args.trades} records from the producer's topic"
                )
            raw_topic = f"{name}_{attempt}.raw"
            create_topics(connection, raw_topic, partitions=PARTITIONS)
            cpu_start = time.process_time()
            raw_s.append(raw_loop(connection, raw_topic, records))
            raw_cpu_s.append(time.process_time() - cpu_start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trades", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3, help="pipeline and raw runs, alternating")
    parser.add_argument(
        "--source",
        choices=("replay", "live"),
        default="replay",
        help="replay pre-built frames flat out (default), or let the simulator generate trades live",
    )
    args = parser.parse_args()
    settings = RuntimeSettings.load_or_exit("bench-producer")
    connection = settings.kafka_connection()
    name = f"bench_producer_{int(time.time())}"

    pipeline: list[Round] = []
    raw_s: list[float] = []
    raw_cpu_s: list[float] = []
    try:
        run_rounds(args, connection, name, pipeline, raw_s, raw_cpu_s)
    finally:
        # Every topic this run created (their names start with `name`), so runs do not pile up.
        delete_topics_with_prefix(connection, f"{name}_")

    def per_s(seconds: float) -> int:
        return round(args.trades / seconds)

    def per_trade_us(seconds: float) -> float:
        return round(seconds / args.trades * 1e6, 2)

    producer_rate = per_s(statistics.median(r.seconds for r in pipeline))
    raw_rate = per_s(statistics.median(raw_s))
    result = {
        "trades": args.trades,
        "source": args.source,
        "rounds": args.rounds,
        "producer_trades_per_s": producer_rate,
        "raw_confluent_kafka_trades_per_s": raw_rate,
        "ratio": round(producer_rate / raw_rate, 3),
        "goal_ratio": 0.5,
        "producer_trades_per_s_each": [per_s(r.seconds) for r in pipeline],
        "raw_trades_per_s_each": [per_s(s) for s in raw_s],
        "producer_cpu_us_per_trade": per_trade_us(statistics.median(r.producer_cpu_s for r in pipeline)),
        "simulator_cpu_us_per_trade": per_trade_us(statistics.median(r.simulator_cpu_s for r in pipeline)),
        "raw_loop_cpu_us_per_trade": per_trade_us(statistics.median(raw_cpu_s)),
    }
    out = settings.var_dir / "bench" / "producer.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    each = ", ".join(f"{rate:,}" for rate in result["producer_trades_per_s_each"])
    raw_each = ", ".join(f"{rate:,}" for rate in result["raw_trades_per_s_each"])
    print(f"simulator ({args.source}) → producer → Kafka : {producer_rate:>9,} trades/s (median of {each})")
    print(f"raw confluent-kafka loop             : {raw_rate:>9,} trades/s (median of {raw_each})")
    print(f"ratio                                : {result['ratio']:.3f} (goal ≥ 0.5); written to {out}")
    print(
        f"CPU per trade (median)               : producer {result['producer_cpu_us_per_trade']} µs,"
        f" simulator {result['simulator_cpu_us_per_trade']} µs,"
        f" raw loop {result['raw_loop_cpu_us_per_trade']} µs"
    )


if __name__ == "__main__":
    main()
