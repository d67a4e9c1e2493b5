"""What the local runtime runs: each supervised program with its port, URL and health probe.

Adding a service to the runtime is one file in deploy/local/programs/ and one `Engine` here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import health
from .settings import RuntimeSettings

CORE, CONTROL_PLANE, PIPELINE = "core", "control plane", "pipeline"
"""Start-up groups, in order: engines; Airflow (after its database migration); the producer (after the
bootstrap DAG created its topics)."""


@dataclass(frozen=True)
class Engine:
    name: str  # the supervisor program name, also its log file: var/log/<name>.log
    port: Callable[[RuntimeSettings], int]
    url: Callable[[RuntimeSettings], str]
    probe: Callable[[RuntimeSettings], object]  # raises health.Unhealthy
    start_timeout_s: float  # first start of a JVM on 2 busy cores is slow
    group: str = CORE


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


def _airflow_component(component: str) -> Callable[[RuntimeSettings], None]:
    return lambda s: health.airflow_component(s.airflow_port, component)


def _airflow(program: str, component: str) -> Engine:
    return Engine(
        program,
        lambda s: s.airflow_port,
        lambda s: f"http://127.0.0.1:{s.airflow_port}",
        _airflow_component(component),
        180,
        CONTROL_PLANE,
    )


ENGINES += (
    _airflow("airflow-api-server", "metadatabase"),
    _airflow("airflow-scheduler", "scheduler"),
    _airflow("airflow-dag-processor", "dag_processor"),
    _airflow("airflow-triggerer", "triggerer"),
)


def in_group(group: str) -> tuple[Engine, ...]:
    return tuple(engine for engine in ENGINES if engine.group == group)


def by_name(name: str) -> Engine:
    for engine in ENGINES:
        if engine.name == name:
            return engine
    raise KeyError(f"unknown service {name!r}; known: {', '.join(e.name for e in ENGINES)}")
