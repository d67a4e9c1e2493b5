"""Settings: read from the environment; a bad value exits 2 with one readable line, never the key."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from services import contracts
from services.producer.settings import FINNHUB_URL, SIMULATOR_URL, ProducerSettings

KEY = "c0ffee1234secretkey"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("FINNHUB_", "PRODUCER_", "KAFKA_", "SIMULATOR_")) or name in (
            "SYMBOLS",
            "TRADES_TOPIC",
            "DEAD_LETTER_TOPIC",
        ):
            monkeypatch.delenv(name)


def run_producer(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FINNHUB_", "PRODUCER_", "SYMBOLS"))}
    return subprocess.run(
        [sys.executable, "-m", "services.producer"],
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_without_a_key_the_producer_points_at_the_local_simulator() -> None:
    assert ProducerSettings().ws_url == SIMULATOR_URL


def test_with_a_key_the_producer_points_at_finnhub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINNHUB_API_KEY", KEY)
    settings = ProducerSettings()
    assert settings.ws_url == FINNHUB_URL
    assert KEY not in repr(settings) and KEY not in str(settings.model_dump())


def test_empty_variables_mean_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINNHUB_API_KEY", "")
    monkeypatch.setenv("SYMBOLS", "")
    settings = ProducerSettings()
    assert settings.finnhub_api_key is None
    assert "AAPL" in settings.symbols


def test_topics_default_to_the_contracts() -> None:
    settings = ProducerSettings()
    assert (settings.trades_topic, settings.dead_letter_topic) == (
        contracts.TRADES_TOPIC,
        contracts.DEAD_LETTER_TOPIC,
    )


def test_symbols_are_read_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYMBOLS", "AAPL, OANDA:EUR_USD,IC MARKETS:1")
    assert ProducerSettings().symbols == ("AAPL", "OANDA:EUR_USD", "IC MARKETS:1")


def test_bad_setting_exits_2_with_one_line_naming_the_variable() -> None:
    result = run_producer(PRODUCER_REPLICA_INDEX="two")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert "PRODUCER_REPLICA_INDEX" in lines[0] and "integer" in lines[0]
    assert "Traceback" not in result.stderr


def test_replica_index_must_be_below_the_count() -> None:
    result = run_producer(PRODUCER_REPLICA_INDEX="2", PRODUCER_REPLICA_COUNT="2")
    assert result.returncode == 2
    assert "PRODUCER_REPLICA_INDEX (2) must be below PRODUCER_REPLICA_COUNT (2)" in result.stderr


def test_malformed_symbol_exits_2_naming_the_symbol() -> None:
    result = run_producer(SYMBOLS="AAPL,msft")
    assert result.returncode == 2 and "SYMBOLS" in result.stderr and "'msft'" in result.stderr


def test_settings_errors_never_show_the_key() -> None:
    results = [
        run_producer(FINNHUB_API_KEY=KEY, FINNHUB_WS_URL="ws://example.com"),
        run_producer(FINNHUB_API_KEY=KEY + " x"),
        run_producer(FINNHUB_API_KEY=KEY, FINNHUB_WS_URL=f"wss://ws.finnhub.io?token={KEY}"),
    ]
    for result in results:
        assert result.returncode == 2
        assert len(result.stderr.splitlines()) == 1
        assert KEY not in result.stderr + result.stdout


def test_the_key_is_refused_over_unencrypted_websocket_to_another_host() -> None:
    result = run_producer(FINNHUB_API_KEY=KEY, FINNHUB_WS_URL="ws://example.com")
    assert "refusing to send FINNHUB_API_KEY" in result.stderr


def test_the_key_may_go_to_the_simulator_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINNHUB_API_KEY", KEY)
    monkeypatch.setenv("FINNHUB_WS_URL", "ws://127.0.0.1:8765")
    assert ProducerSettings().ws_url == "ws://127.0.0.1:8765"
