"""`make bench-producer`: trades/s from the simulator through the producer into Kafka, next to a raw
confluent-kafka produce loop of the same records into the same broker, measured in the same run.

The ratio (producer ÷ raw) is the figure to compare across machines; the goal is at least 0.5. Results are
printed and written to var/bench/producer.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

from stack.settings import load_settings
from tests.integration.producer.harness import create_topics, end_offsets, start_run

PARTITIONS = 3
SYMBOLS = "AAPL,GOOGL,MSFT,AMZN,TSLA,BINANCE:BTCUSDT,BINANCE:ETHUSDT,OANDA:EUR_USD"


def read_back(bootstrap: str, topic: str, count: int) -> list[tuple[bytes | None, bytes | None]]:
    """The topic's records as (key, value) bytes: the raw loop's input."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"bench-{topic}", "enable.auto.commit": False}
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


def raw_loop(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes | None]]) -> float:
    """Seconds for a plain produce loop of `records`, with the producer's Kafka settings, until all acked."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "compression.type": "lz4",
            "linger.ms": 20,
            "batch.size": 262144,
            "queue.buffering.max.messages": 500000,
        }
    )
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trades", type=int, default=200_000)
    args = parser.parse_args()
    settings = load_settings()
    bootstrap = settings.kafka_bootstrap
    name = f"bench_producer_{int(time.time())}"

    with tempfile.TemporaryDirectory() as workdir:
        run = start_run(
            Path(workdir),
            bootstrap,
            name,
            SYMBOLS,
            {"SIMULATOR_MAX_TRADES": str(args.trades), "SIMULATOR_RATE": "1000000", "SIMULATOR_SENT_LOG": ""},
            {},
        )
        try:
            # The clock starts when the producer is subscribed: from then on the simulator sends flat out.
            run.simulator.wait_ready()
            while not run.simulator.control("stats")["connections"]:
                time.sleep(0.01)
            started = time.perf_counter()
            # Progress from the broker's end offsets, so that polling costs the producer nothing.
            while end_offsets(bootstrap, run.trades_topic, PARTITIONS) < args.trades:
                time.sleep(0.05)
                if time.perf_counter() - started > 600:
                    raise SystemExit(
                        f"producer did not deliver {args.trades} trades in 600 s; log {run.producer.log}"
                    )
            pipeline_s = time.perf_counter() - started
        finally:
            run.stop()

    records = read_back(bootstrap, run.trades_topic, args.trades)
    # The raw loop is short and the machine noisy: its median of three runs, each into a fresh topic.
    raw_runs = []
    for attempt in range(3):
        raw_topic = f"{name}.raw{attempt}"
        create_topics(bootstrap, raw_topic, partitions=PARTITIONS)
        raw_runs.append(raw_loop(bootstrap, raw_topic, records))
    raw_s = statistics.median(raw_runs)

    result = {
        "trades": args.trades,
        "producer_trades_per_s": round(args.trades / pipeline_s),
        "raw_confluent_kafka_trades_per_s": round(len(records) / raw_s),
        "ratio": round((args.trades / pipeline_s) / (len(records) / raw_s), 3),
        "goal_ratio": 0.5,
    }
    out = settings.var_dir / "bench" / "producer.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"simulator → producer → Kafka : {result['producer_trades_per_s']:>9,} trades/s")
    print(f"raw confluent-kafka loop     : {result['raw_confluent_kafka_trades_per_s']:>9,} trades/s")
    print(f"ratio                        : {result['ratio']:.3f} (goal ≥ 0.5); written to {out}")


if __name__ == "__main__":
    main()
