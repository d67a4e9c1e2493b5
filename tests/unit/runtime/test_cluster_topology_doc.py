"""docs/deployment.md's "Cluster topology" section is held against the code: every variable it names is one
the code reads, its settings table gives each setting's default in both topologies, and its ports table
gives every node's address and port as the runtime computes them."""

from __future__ import annotations

import re
import typing

from dotenv import dotenv_values

from services import layout
from services.cassandra_session import Consistency
from stack import render, settings, topology
from stack.settings import RuntimeSettings
from tests.unit.deployment.test_manifests import entrypoint_variables, producer_variables, stream_variables

DOC = layout.ROOT / "docs" / "deployment.md"
NAMED = re.compile(r"`([A-Z][A-Z0-9_]*)(?:=[^`]*)?`")
"""A variable in backticks, alone or with a value (`TOPOLOGY=cluster`)."""
UNUSED = "—"
"""A settings table cell: the topology does not use the setting."""


def section() -> str:
    return DOC.read_text(encoding="utf-8").split("\n## Cluster topology\n", 1)[1].split("\n## ", 1)[0]


def table_after(heading: str) -> list[list[str]]:
    """The body rows (cells without backticks) of the first table after the line starting with `heading`."""
    lines = section().splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith(heading))
    rows: list[list[str]] = []
    for line in lines[start + 1 :]:
        if line.startswith("|"):
            rows.append([cell.strip().strip("`") for cell in line.strip().strip("|").split("|")])
        elif rows:
            break
    return rows[2:]


def runtime_variables() -> set[str]:
    example = set(dotenv_values(layout.ROOT / ".env.example"))
    return example | set(RuntimeSettings.environment_variables().values())


def node_addresses(cluster: RuntimeSettings) -> dict[str, list[str]]:
    """Setting -> `address:port` of each node it places in a cluster (node 1 first), from the runtime."""
    local = settings.LOCALHOST
    kafka, cassandra = cluster.kafka_hosts, cluster.cassandra_hosts
    workers = [render.node_values(cluster, worker, None) for worker in topology.spark_workers(cluster)]
    same_port = {
        "KAFKA_PORT": (kafka, cluster.kafka_port),
        "KAFKA_CONTROLLER_PORT": (kafka, cluster.kafka_controller_port),
        "KAFKA_JMX_EXPORTER_PORT": (kafka, cluster.kafka_jmx_exporter_port),
        "CASSANDRA_PORT": (cassandra, cluster.cassandra_port),
        "CASSANDRA_STORAGE_PORT": (cassandra, cluster.cassandra_storage_port),
        "CASSANDRA_JMX_EXPORTER_PORT": (cassandra, cluster.cassandra_jmx_exporter_port),
    }
    found = {name: [f"{host}:{port}" for host in hosts] for name, (hosts, port) in same_port.items()}
    return found | {
        "CASSANDRA_JMX_PORT": [
            f"{local}:{cluster.cassandra_node_jmx_port(node.number)}"
            for node in topology.cassandra_nodes(cluster)
        ],
        "SPARK_MASTER_PORT": [cluster.spark_master_url.removeprefix("spark://")],
        "SPARK_MASTER_WEBUI_PORT": [f"{local}:{cluster.spark_master_webui_port}"],
        "SPARK_WORKER_PORT": [f"{local}:{worker['SPARK_WORKER_NODE_PORT']}" for worker in workers],
        "SPARK_WORKER_WEBUI_PORT": [
            f"{local}:{worker['SPARK_WORKER_NODE_WEBUI_PORT']}" for worker in workers
        ],
        "PRODUCER_METRICS_PORT": list(cluster.producer_metrics_targets),
    }


def test_every_variable_the_section_names_is_one_the_code_reads() -> None:
    known = (
        runtime_variables()
        | producer_variables()
        | stream_variables()
        | entrypoint_variables()
        | set(typing.get_args(Consistency))  # values of CASSANDRA_CONSISTENCY
        | {name for name in vars(settings) if name.isupper()}  # the runtime's constants (PORT_STRIDE)
    )

    named = set(NAMED.findall(section()))

    assert named, "no variable found: has the section moved?"
    assert named - known == set()


def test_the_settings_table_gives_each_settings_default_in_both_topologies() -> None:
    defaults = {
        topology_name: RuntimeSettings(topology=topology_name) for topology_name in ("single", "cluster")
    }
    fields = {variable: field for field, variable in RuntimeSettings.environment_variables().items()}
    example = set(dotenv_values(layout.ROOT / ".env.example"))

    rows = table_after("**Settings**")

    assert rows
    for variable, single, cluster, _ in rows:
        assert variable in example, variable
        for topology_name, documented in (("single", single), ("cluster", cluster)):
            if documented != UNUSED:
                value = getattr(defaults[topology_name], fields[variable])
                assert documented == str(value), (variable, topology_name)


def test_the_ports_table_gives_every_nodes_address_and_port_as_the_runtime_does() -> None:
    cluster = RuntimeSettings(topology="cluster")
    expected = node_addresses(cluster)
    listening = {f"{host}:{port}" for host, port in cluster.endpoints.values()}

    documented = {row[1]: [cell for cell in row[2:] if cell] for row in table_after("**Ports.**")}

    assert documented == expected
    assert {address for row in documented.values() for address in row} <= listening
