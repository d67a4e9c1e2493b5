"""What the local runtime runs: each supervised program with its port, URL, role and health probe.

Adding a service to the runtime is one file in deploy/local/programs/ and one `Engine` here. An engine that
runs as several nodes (`stack.topology`: Kafka and Cassandra in TOPOLOGY=cluster, Spark's master and
workers, the producer replicas) is one `Engine` per node, from `wanted(settings)`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass

from . import health, topology
from .settings import LOCALHOST, RuntimeSettings
from .topology import Node

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
    role: str = "-"  # what it is in the topology (the `make status` column)
    host: str = LOCALHOST
    port_offset: int = 0  # a node's port is its setting's plus this (producer replica i: + i x 100)

    def port(self, settings: RuntimeSettings) -> int:
        return int(getattr(settings, self.port_setting)) + self.port_offset

    def url(self, settings: RuntimeSettings) -> str:
        return f"{self.scheme}://{self.host}:{self.port(settings)}{self.path}"


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
    Engine("kafka", "kafka_port", "kafka", health.kafka_metadata, 120, role="broker+controller"),
    Engine("cassandra", "cassandra_port", "cql", health.cassandra_query, 240, role="node"),
    Engine(
        "spark-master",
        "spark_master_webui_port",
        "http",
        health.spark_master,
        120,
        wanted=lambda s: s.cluster,
        role="master",
    ),
    Engine("spark-worker", "spark_worker_webui_port", "http", health.spark_master, 150, role="worker"),
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
        role="replica",
    ),
)
"""The programs, one template each; `wanted` expands the engines that run as nodes."""


def _producer_probe(settings: RuntimeSettings, metrics_port: int) -> None:
    health.producer_connected(metrics_port)


def _node_engine(engine: Engine, node: Node, settings: RuntimeSettings) -> Engine:
    """`engine` as one of its nodes: the node's name, address, port and a probe that asks that node."""
    probe: Callable[[RuntimeSettings], object]
    offset = 0
    if node.engine in (topology.KAFKA, topology.CASSANDRA) and not settings.cluster:
        return dataclasses.replace(engine, role=node.role)  # the one node, probed as always
    if node.engine == topology.KAFKA:
        probe = functools.partial(health.kafka_node, host=node.host, node_id=node.number)
    elif node.engine == topology.CASSANDRA:
        probe = functools.partial(health.cassandra_node, host=node.host)
    elif node.engine == topology.SPARK_WORKER:
        offset = node.index
        probe = functools.partial(health.spark_worker, webui_port=settings.spark_worker_webui_port + offset)
    elif node.engine == topology.PRODUCER:
        port = settings.producer_replica_metrics_port(node.index)
        offset = port - settings.producer_metrics_port
        probe = functools.partial(_producer_probe, metrics_port=port)
    else:
        probe = engine.probe
    return dataclasses.replace(
        engine, name=node.program, probe=probe, role=node.role, host=node.host, port_offset=offset
    )


def wanted(settings: RuntimeSettings) -> tuple[Engine, ...]:
    """Every program this configuration runs, a node of a clustered engine as its own program."""
    found: list[Engine] = []
    for engine in ENGINES:
        if not engine.wanted(settings):
            continue
        if engine.name in (topology.KAFKA, topology.CASSANDRA, topology.SPARK_WORKER, topology.PRODUCER):
            found += [_node_engine(engine, node, settings) for node in topology.nodes(settings, engine.name)]
        else:
            found.append(engine)
    return tuple(found)


def in_group(group: str, settings: RuntimeSettings) -> tuple[Engine, ...]:
    return tuple(engine for engine in wanted(settings) if engine.group == group)


def unwanted_in_group(group: str, settings: RuntimeSettings) -> list[str]:
    """Programs of `group` that this configuration does not run (e.g. the simulator once a key is set)."""
    return [engine.name for engine in ENGINES if engine.group == group and not engine.wanted(settings)]


def by_name(name: str, settings: RuntimeSettings) -> Engine:
    for engine in wanted(settings):
        if engine.name == name:
            return engine
    known = ", ".join(e.name for e in wanted(settings))
    raise KeyError(f"unknown service {name!r}; known: {known}")
