from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stack.settings import RuntimeSettings
from testkit.producer import Run, start_run

SYMBOLS = "AAPL,MSFT,BINANCE:BTCUSDT,OANDA:EUR_USD,IC MARKETS:1"

StartRun = Callable[..., Run]


@pytest.fixture
def start(runtime: RuntimeSettings, tmp_path: Path, unique_name: str) -> Iterator[StartRun]:
    """Starts a simulator and a producer on topics of this test; both are stopped afterwards."""
    runs: list[Run] = []

    def _start(simulator_env: dict[str, str], producer_env: dict[str, str] | None = None) -> Run:
        run = start_run(
            tmp_path, runtime.kafka_connection(), unique_name, SYMBOLS, simulator_env, producer_env or {}
        )
        runs.append(run)
        return run

    yield _start
    for run in runs:
        run.stop()
