"""The API key stays secret through a session with reconnects, a refused key and server errors; Finnhub's
`error` messages are logged and counted by message."""

from __future__ import annotations

import secrets
from pathlib import Path

from stack.settings import RuntimeSettings
from testkit.producer import Producer
from testkit.runtime import free_port
from testkit.waiting import eventually
from tests.integration.producer.conftest import StartRun


def test_the_api_key_is_absent_from_logs_metrics_and_the_process_list(
    runtime: RuntimeSettings, start: StartRun, tmp_path: Path
) -> None:
    key, wrong_key = f"key{secrets.token_hex(12)}", f"wrong{secrets.token_hex(12)}"
    run = start(
        {"SIMULATOR_TOKEN": key, "SIMULATOR_RATE": "500"},
        {"FINNHUB_API_KEY": key, "PRODUCER_LOG_LEVEL": "DEBUG"},
    )
    run.producer.wait_connected()
    run.simulator.control("drop")  # a reconnect logs the URL again
    eventually(
        lambda: run.simulator.control("send", frame='{"type":"error","msg":"Invalid symbol"}')["connections"],
        30,
        what="the producer reconnected after the drop",
    )
    eventually(
        lambda: run.producer.metric("finnhub_server_errors_total", message="Invalid symbol") == 1,
        30,
        what="the server error counted by message",
    )
    # A drop without a close frame reads as server_closed or as a socket error, by timing.
    reconnects = sum(
        run.producer.metric("websocket_reconnects_total", reason=reason)
        for reason in ("server_closed", "error")
    )
    assert reconnects >= 1
    eventually(  # right after a broker restart (another test) the first acks can take seconds
        lambda: run.producer.metric("kafka_messages_sent_total", topic=run.trades_topic) > 0,
        60,
        what="trades acknowledged by Kafka",
    )

    # A second producer with a wrong key: Finnhub (here the simulator) refuses the handshake with 401.
    refused = Producer(
        "services.producer",
        {**run.producer.env, "FINNHUB_API_KEY": wrong_key, "PRODUCER_METRICS_PORT": str(port := free_port())},
        tmp_path / "refused.log",
        metrics_port=port,
    ).start()
    try:
        eventually(
            lambda: refused.metric("websocket_reconnects_total", reason="handshake_401") >= 2,
            60,
            what="the refused key counted as handshake_401",
        )
        assert refused.metric("websocket_connected") == 0.0
        captured = {
            "producer log": run.producer.output(),
            "producer metrics": run.producer.metrics_text(),
            "producer command line": Path(f"/proc/{run.producer.pid}/cmdline").read_bytes().decode(),
            "simulator log": run.simulator.output(),
            "refused producer log": refused.output(),
            "refused producer metrics": refused.metrics_text(),
            "refused command line": Path(f"/proc/{refused.pid}/cmdline").read_bytes().decode(),
        }
    finally:
        refused.stop()
    assert "Invalid symbol" in captured["producer log"]
    assert "token=***" in captured["producer log"]
    for where, text in captured.items():
        assert key not in text, f"the API key appears in the {where}"
        assert wrong_key not in text, f"the refused API key appears in the {where}"


def test_the_local_producer_runs_on_the_simulator_without_a_key(runtime: RuntimeSettings) -> None:
    """`make up` without FINNHUB_API_KEY: the supervised producer reads the supervised simulator."""
    producer = Producer("services.producer", {}, runtime.var_dir / "log" / "producer.log")
    producer.metrics_port = runtime.producer_metrics_port
    eventually(
        lambda: producer.metric("websocket_connected") == 1.0, 60, what="the stack's producer connected"
    )
    assert f"url=ws://127.0.0.1:{runtime.simulator_port}" in producer.output()
    before = producer.metric("kafka_messages_sent_total", topic="trades")
    eventually(
        lambda: producer.metric("kafka_messages_sent_total", topic="trades") > before,
        30,
        what="the stack's producer sending trades to the trades topic",
    )
