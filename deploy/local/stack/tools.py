"""The engines' own command-line tools, run from the jars the runtime resolved (no separate install)."""

from __future__ import annotations

import base64
import subprocess
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path

from . import kafka_security, security, topology
from .render import DEPLOY, jvm_options
from .settings import RuntimeSettings


def _java(settings: RuntimeSettings, lib: str, *args: str) -> list[str]:
    return ["java", "-Xmx256m", "-cp", str(settings.var_dir / "lib" / lib / "*"), *args]


def kafka_tool(settings: RuntimeSettings, main_class: str, *args: str) -> list[str]:
    return _java(
        settings,
        "kafka",
        f"-Dlog4j2.configurationFile={DEPLOY / 'kafka' / 'tools-log4j2.xml'}",
        main_class,
        *args,
    )


def kafka_topics(settings: RuntimeSettings, *args: str) -> list[str]:
    """kafka-topics against the local broker; with ENABLE_SSL as the admin principal, whose properties
    (credentials included) are in a 0600 file, never on the command line."""
    properties = security.kafka_admin_properties(settings)
    return kafka_tool(
        settings,
        "org.apache.kafka.tools.TopicCommand",
        "--bootstrap-server",
        settings.kafka_bootstrap,
        *(("--command-config", str(properties)) if properties else ()),
        *(args or ("--describe",)),
    )


def nodetool(settings: RuntimeSettings, *args: str, node: int = 1) -> list[str]:
    """nodetool against Cassandra node `node` (1-based: its own JMX port; `make nodetool NODE=2`)."""
    nodes = topology.cassandra_nodes(settings)
    if not 1 <= node <= len(nodes):
        raise KeyError(f"no Cassandra node {node}: this topology runs {len(nodes)} (1-{len(nodes)})")
    return _java(
        settings,
        "cassandra",
        *jvm_options(DEPLOY / "cassandra" / "jvm17-clients.options").split(),
        f"-Dlogback.configurationFile={DEPLOY / 'cassandra' / 'logback-tools.xml'}",
        f"-Dcassandra.storagedir={nodes[node - 1].data_dir}",
        "org.apache.cassandra.tools.NodeTool",
        "-h",
        "127.0.0.1",
        "-p",
        str(settings.cassandra_node_jmx_port(node)),
        *(args or ("status",)),
    )


def cqlsh(settings: RuntimeSettings, *args: str) -> list[str]:
    """cqlsh on the local node; with ENABLE_SSL through `stack.cqlsh_tls` (which makes cqlsh verify the
    node's certificate) with a 0600 cqlshrc naming the CA and a credentials file."""
    rc = security.cqlshrc(settings)
    if rc is None:
        return [
            str(Path(sys.executable).parent / "cqlsh"),
            settings.cassandra_hosts[0],
            str(settings.cassandra_port),
            *args,
        ]
    return [
        sys.executable,
        "-m",
        "stack.cqlsh_tls",
        "--cqlshrc",
        str(rc),
        settings.cassandra_hosts[0],
        str(settings.cassandra_port),
        *args,
    ]


def kafka_storage_formatted(settings: RuntimeSettings) -> bool:
    """Whether every broker's log dir is formatted (node 1's decides for the ENABLE_SSL switch)."""
    return all(_formatted(node) for node in topology.kafka_nodes(settings))


def _formatted(node: topology.Node) -> bool:
    return node.data_dir is not None and (node.data_dir / "meta.properties").exists()


def _cluster_id(settings: RuntimeSettings) -> str:
    """The cluster id the brokers were formatted with, or a new one: every node must carry the same."""
    for node in topology.kafka_nodes(settings):
        if _formatted(node):
            assert node.data_dir is not None
            for line in (node.data_dir / "meta.properties").read_text().splitlines():
                if line.startswith("cluster.id="):
                    return line.removeprefix("cluster.id=").strip()
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def format_kafka_storage(settings: RuntimeSettings, passwords: Mapping[str, str] | None = None) -> bool:
    """Formats each broker's log dir once, all with one cluster id (KRaft needs it, and the static quorum of
    every broker is written with it); returns False when every one already was. With `passwords`
    (ENABLE_SSL), the broker's and admin's SCRAM users are written with it (KIP-900), through a 0600 Java
    argument file that is deleted afterwards: no password on the command line."""
    pending = [node for node in topology.kafka_nodes(settings) if not _formatted(node)]
    if not pending:
        return False
    cluster_id = _cluster_id(settings)
    for node in pending:
        config: Path = node.run_dir / "server.properties"
        if passwords is None:
            command = kafka_tool(
                settings, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config)
            )
            result = subprocess.run(command, capture_output=True, text=True, check=False)
        else:
            arguments = kafka_security.format_argument_file(
                security.secrets_dir(settings) / "kafka-format.args", cluster_id, config, passwords
            )
            try:
                result = subprocess.run(
                    kafka_tool(settings, f"@{arguments}"), capture_output=True, text=True, check=False
                )
            finally:
                arguments.unlink(missing_ok=True)
        if result.returncode != 0:
            # stderr only: stdout lists the bootstrap records, SCRAM credentials included.
            raise RuntimeError(
                f"Kafka storage format of {node.program} failed: "
                f"{result.stderr.strip()[-500:] or result.returncode}"
            )
    return True
