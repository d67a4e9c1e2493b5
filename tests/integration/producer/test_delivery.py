"""Everything the simulator sends reaches real Kafka exactly once and in order per symbol: across forced
WebSocket drops, server repeats of whole frames, and a Kafka broker restart in the middle of the run."""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

import pytest

from services.kafka_options import KafkaConnection
from stack.settings import RuntimeSettings
from stack.supervisor import Supervisor
from testkit.kafka import consume
from testkit.producer import Run, sent_trades
from testkit.runtime import run_stack
from testkit.waiting import eventually
from tests.integration.producer.conftest import StartRun


def by_symbol_sent(run: Run) -> dict[str, list[tuple[Any, ...]]]:
    expected: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for trade in sent_trades(run.sent_log):
        expected[trade["s"]].append((trade["p"], trade["v"], trade["t"], trade.get("c") or []))
    return dict(expected)


def by_symbol_in_kafka(records: list[dict[str, Any]]) -> dict[str, list[tuple[Any, ...]]]:
    got: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for record in sorted(records, key=lambda r: (r["partition"], r["offset"])):
        value = record["value"]
        assert record["key"] == value["symbol"], record
        got[value["symbol"]].append(
            (value["price"], value["volume"], value["trade_ts_ms"], value["conditions"])
        )
    return dict(got)


def finish_and_check(run: Run, connection: KafkaConnection, total: int) -> list[dict[str, Any]]:
    """Waits until the simulator sent `total` trades and Kafka acknowledged as many; stops the producer
    (SIGTERM: clean exit) and compares the topic with the simulator's log of what it sent."""
    eventually(lambda: run.simulator.control("stats")["finished"], 180, what="simulator sent every trade")
    eventually(
        lambda: run.producer.metric("kafka_messages_sent_total", topic=run.trades_topic) >= total,
        180,
        what=f"Kafka acknowledged {total} trades",
    )
    assert run.producer.stop() == 0, run.producer.output()[-2000:]

    records = consume(connection, run.trades_topic, total)
    expected = by_symbol_sent(run)
    assert sum(len(trades) for trades in expected.values()) == total
    assert len(records) == total, f"{len(records)} records in Kafka for {total} trades sent"
    assert len({r["value"]["trade_id"] for r in records}) == total, "trade ids are not unique"
    got = by_symbol_in_kafka(records)
    assert got.keys() == expected.keys()
    for symbol, trades in expected.items():
        assert got[symbol] == trades, f"{symbol}: Kafka differs from what the simulator sent"
    assert len({(r["key"], r["partition"]) for r in records}) == len(expected), "a symbol spans partitions"
    return records


def test_every_trade_once_and_in_order_across_drops_and_repeats(
    runtime: RuntimeSettings, start: StartRun
) -> None:
    total = 20_000
    run = start(
        {
            "SIMULATOR_MAX_TRADES": str(total),
            "SIMULATOR_RATE": "4000",
            "SIMULATOR_SEED": "7",
            "SIMULATOR_DROP_EVERY_FRAMES": "120",
            "SIMULATOR_REPEAT_EVERY_FRAMES": "9",
        }
    )
    finish_and_check(run, runtime.kafka_connection(), total)

    stats = run.simulator.control("stats")
    assert stats["counts"]["drops"] >= 3 and stats["counts"]["repeats"] >= 10, stats
    log = run.producer.output()
    assert log.count("event=ws_connected") == stats["counts"]["drops"] + 1
    assert "level=error" not in log


@pytest.mark.faults
def test_every_trade_once_and_in_order_across_a_kafka_broker_restart(
    runtime: RuntimeSettings, supervisor: Supervisor, start: StartRun
) -> None:
    total = 30_000
    run = start({"SIMULATOR_MAX_TRADES": str(total), "SIMULATOR_RATE": "1000", "SIMULATOR_SEED": "11"})
    run.producer.wait_connected()
    eventually(
        lambda: run.producer.metric("kafka_messages_sent_total", topic=run.trades_topic) > 2_000,
        60,
        what="trades flowing before the restart",
    )
    # The broker goes away for the restart's duration while trades keep arriving: they wait in the
    # producer's buffer, and the idempotent producer's retries must not duplicate any.
    restart = threading.Thread(target=supervisor.ctl, args=("restart", "kafka"))
    restart.start()
    restart.join(120)
    result = run_stack("wait", "kafka", timeout_s=180)
    assert result.returncode == 0, result.stdout + result.stderr

    records = finish_and_check(run, runtime.kafka_connection(), total)
    assert run.simulator.control("stats")["counts"].get("drops", 0) == 0
    assert len(records) == total
