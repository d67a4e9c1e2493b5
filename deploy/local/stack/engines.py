"""What the local runtime runs: each supervised program with its port, URL and health probe.

Adding a service to the runtime is one file in deploy/local/programs/ and one `Engine` here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import health
from .settings import RuntimeSettings


@dataclass(frozen=True)
class Engine:
    name: str  # the supervisor program name, also its log file: var/log/<name>.log
    port: Callable[[RuntimeSettings], int]
    url: Callable[[RuntimeSettings], str]
    probe: Callable[[RuntimeSettings], object]  # raises health.Unhealthy
    start_timeout_s: float  # first start of a JVM on 2 busy cores is slow


def _ready(port_of: Callable[[RuntimeSettings], int], path: str) -> Callable[[RuntimeSettings], None]:
    return lambda s: health.http_ok(f"http://127.0.0.1:{port_of(s)}{path}")


ENGINES: tuple[Engine, ...] = (
    Engine(
        "kafka",
        lambda s: s.kafka_port,
        lambda s: f"kafka://{s.kafka_bootstrap}",
        health.kafka_metadata,
        120,
    ),
    Engine(
        "cassandra",
        lambda s: s.cassandra_port,
        lambda s: f"cql://{s.cassandra_host}:{s.cassandra_port}",
        health.cassandra_query,
        240,
    ),
    Engine(
        "prometheus",
        lambda s: s.prometheus_port,
        lambda s: f"http://127.0.0.1:{s.prometheus_port}",
        _ready(lambda s: s.prometheus_port, "/-/ready"),
        60,
    ),
    Engine(
        "alertmanager",
        lambda s: s.alertmanager_port,
        lambda s: f"http://127.0.0.1:{s.alertmanager_port}",
        _ready(lambda s: s.alertmanager_port, "/-/ready"),
        60,
    ),
    Engine(
        "statsd-exporter",
        lambda s: s.statsd_exporter_web_port,
        lambda s: f"http://127.0.0.1:{s.statsd_exporter_web_port}/metrics",
        _ready(lambda s: s.statsd_exporter_web_port, "/metrics"),
        30,
    ),
)


def by_name(name: str) -> Engine:
    for engine in ENGINES:
        if engine.name == name:
            return engine
    raise KeyError(f"unknown service {name!r}; known: {', '.join(e.name for e in ENGINES)}")
