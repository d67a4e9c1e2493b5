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


def _always(settings: RuntimeSettings) -> bool:
    return True


@dataclass(frozen=True)
class Engine:
    name: str  # the supervisor program name, also its log file: var/log/<name>.log
    port_setting: str  # the RuntimeSettings field holding its port
    scheme: str  # of its URL in the status table
    probe: Callable[[RuntimeSettings], object]  # raises health.Unhealthy
    start_timeout_s: float  # first start of a JVM on 2 busy cores is slow
    group: str = CORE
    path: str = ""
    wanted: Callable[[RuntimeSettings], bool] = _always  # runs only when this holds for the settings

    def port(self, settings: RuntimeSettings) -> int:
        return int(getattr(settings, self.port_setting))

    def url(self, settings: RuntimeSettings) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port(settings)}{self.path}"


def _http_ok(port_setting: str, path: str) -> Callable[[RuntimeSettings], None]:
    return lambda s: health.http_ok(f"http://127.0.0.1:{getattr(s, port_setting)}{path}")


def _web(
    name: str,
    port_setting: str,
    probe_path: str,
    timeout_s: float,
    group: str = CORE,
    wanted: Callable[[RuntimeSettings], bool] = _always,
    url_path: str = "",
) -> Engine:
    """An engine whose health is a 200 on an HTTP path of its port."""
    probe = _http_ok(port_setting, probe_path)
    return Engine(name, port_setting, "http", probe, timeout_s, group, url_path, wanted)


def _airflow(program: str, component: str) -> Engine:
    return Engine(
        program,
        "airflow_port",
        "http",
        lambda s: health.airflow_component(s.airflow_port, component),
        180,
        CONTROL_PLANE,
    )


ENGINES: tuple[Engine, ...] = (
    Engine("kafka", "kafka_port", "kafka", health.kafka_metadata, 120),
    Engine("cassandra", "cassandra_port", "cql", health.cassandra_query, 240),
    _web("prometheus", "prometheus_port", "/-/ready", 60),
    _web("alertmanager", "alertmanager_port", "/-/ready", 60),
    _web("alert-log", "alert_log_port", "/healthz", 30),
    _web("statsd-exporter", "statsd_exporter_web_port", "/metrics", 30, url_path="/metrics"),
    _airflow("airflow-api-server", "metadatabase"),
    _airflow("airflow-scheduler", "scheduler"),
    _airflow("airflow-dag-processor", "dag_processor"),
    _airflow("airflow-triggerer", "triggerer"),
    _web(
        "simulator",
        "simulator_port",
        "/healthz",
        60,
        group=PIPELINE,
        wanted=lambda s: s.uses_simulator,
    ),
    Engine(
        "producer",
        "producer_metrics_port",
        "http",
        lambda s: health.producer_connected(s.producer_metrics_port),
        90,
        PIPELINE,
        path="/metrics",
    ),
)


def in_group(group: str, settings: RuntimeSettings) -> tuple[Engine, ...]:
    return tuple(engine for engine in ENGINES if engine.group == group and engine.wanted(settings))


def wanted(settings: RuntimeSettings) -> tuple[Engine, ...]:
    return tuple(engine for engine in ENGINES if engine.wanted(settings))


def by_name(name: str) -> Engine:
    for engine in ENGINES:
        if engine.name == name:
            return engine
    raise KeyError(f"unknown service {name!r}; known: {', '.join(e.name for e in ENGINES)}")
