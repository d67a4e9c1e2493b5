"""What the stack looked like when an integration test failed: supervisord's programs, what the simulator
has sent to each connection, the producers' counters and the tails of the pipeline's logs. Attached to the
failure's report (tests/integration/conftest.py), so a failure on a CI machine, whose var/ is gone
afterwards, still says which part stopped.

Every part is read on its own and a part that cannot be read says why in one line: the snapshot is taken
while something is already wrong.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from functools import partial
from pathlib import Path

from services import layout
from services.producer.metrics import METRIC_NAMES
from stack.settings import RuntimeSettings
from testkit.runtime import simulator_control, stack_supervisor

PRODUCER_METRICS = tuple(
    METRIC_NAMES[key]
    for key in (
        "websocket_connected",
        "messages_received",
        "trades_received",
        "kafka_messages_sent",
        "kafka_queue",
        "delivery_failures",
        "buffer_full",
        "reconnects",
        "last_message_age",
    )
)
LOGGED_PROGRAMS = ("simulator", "producer", "kafka")
"""The programs whose logs are tailed (every replica or node of each: producer-0, kafka-2, ...)."""
TAIL_LINES = 12
LINE_CHARS = 300


def stack_snapshot(settings: RuntimeSettings) -> str:
    try:
        programs = sorted(stack_supervisor(settings).programs().items())
    except Exception as exc:  # supervisord itself may be what is down
        programs, summary = [], f"(unreadable: {type(exc).__name__}: {exc})"
    else:
        summary = " ".join(f"{name}={state.state}" for name, state in programs) or "(not running)"
    parts: list[tuple[str, Callable[[], str]]] = [
        ("supervisord", lambda: summary),
        ("simulator", lambda: _simulator(settings)),
    ]
    for target in settings.producer_metrics_targets:
        parts.append((f"producer metrics ({target})", partial(_producer_metrics, target)))
    for name, _ in programs:
        if name.startswith(LOGGED_PROGRAMS):
            log = layout.program_log(name, settings.var_dir)
            parts.append((f"{log.name} (last {TAIL_LINES} lines)", partial(_tail, log)))
    return "\n".join(f"--- {title}\n{_read(part)}" for title, part in parts)


def _read(part: Callable[[], str]) -> str:
    try:
        return part()
    except Exception as exc:  # a diagnostic must never hide the failure it explains
        return f"(unreadable: {type(exc).__name__}: {exc})"


def _simulator(settings: RuntimeSettings) -> str:
    stats = simulator_control(settings, "stats")
    connections = stats.pop("connections", [])
    stats.pop("per_symbol", None)
    lines = [json.dumps(stats)]
    lines += [json.dumps(connection) for connection in connections]
    return "\n".join(lines)


def _producer_metrics(target: str) -> str:
    with urllib.request.urlopen(f"http://{target}/metrics", timeout=5) as response:
        text = response.read().decode()
    return "\n".join(line for line in text.splitlines() if line.startswith(PRODUCER_METRICS))


def _tail(log: Path) -> str:
    with log.open("rb") as handle:
        handle.seek(max(0, log.stat().st_size - 64 * 1024))
        lines = handle.read().decode(errors="replace").splitlines()[-TAIL_LINES:]
    return "\n".join(line[:LINE_CHARS] for line in lines)
