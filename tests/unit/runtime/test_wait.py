"""`stack up`'s wait: a service that dies or never answers stops start-up with one line naming its log."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

import stack.__main__ as cli
from stack import engines, health
from stack.settings import RuntimeSettings
from stack.supervisor import ProgramState


def never_healthy(_: RuntimeSettings) -> None:
    raise health.Unhealthy("connection refused")


@pytest.fixture
def settings(tmp_path: Path) -> RuntimeSettings:
    return RuntimeSettings(var_dir=tmp_path)


def fake_supervisor(monkeypatch: pytest.MonkeyPatch, state: str) -> None:
    class FakeSupervisor:
        def __init__(self, conf: Path) -> None: ...

        def programs(self) -> dict[str, ProgramState]:
            return {"kafka": ProgramState("kafka", state, 0)}

    monkeypatch.setattr(cli, "Supervisor", FakeSupervisor)


def test_a_fatal_service_stops_the_wait_naming_it_and_its_log(
    settings: RuntimeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_supervisor(monkeypatch, "FATAL")
    engine = engines.Engine("kafka", "kafka_port", "kafka", never_healthy, start_timeout_s=600)

    with pytest.raises(cli.StartError) as caught:
        cli.wait_healthy(settings, [engine])

    message = str(caught.value)
    assert "kafka is FATAL" in message and message.endswith("log/kafka.log")
    assert "\n" not in message


def test_a_service_that_never_answers_times_out_with_the_probe_reason(
    settings: RuntimeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_supervisor(monkeypatch, "RUNNING")
    clock = itertools.count(0, 5.0)
    monkeypatch.setattr(cli.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(cli.time, "sleep", lambda _: None)
    engine = engines.Engine("kafka", "kafka_port", "kafka", never_healthy, start_timeout_s=30)

    with pytest.raises(
        cli.StartError, match=r"kafka not healthy after \d+ s \(connection refused\); see .*kafka\.log"
    ):
        cli.wait_healthy(settings, [engine])
