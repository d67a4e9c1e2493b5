"""The engines' own command-line tools, run from the jars the runtime resolved (no separate install)."""

from __future__ import annotations

import base64
import subprocess
import sys
import uuid
from pathlib import Path

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
    return kafka_tool(
        settings,
        "org.apache.kafka.tools.TopicCommand",
        "--bootstrap-server",
        settings.kafka_bootstrap,
        *(args or ("--describe",)),
    )


def nodetool(settings: RuntimeSettings, *args: str) -> list[str]:
    return _java(
        settings,
        "cassandra",
        *jvm_options(DEPLOY / "cassandra" / "jvm17-clients.options").split(),
        f"-Dlogback.configurationFile={DEPLOY / 'cassandra' / 'logback-tools.xml'}",
        f"-Dcassandra.storagedir={settings.var_dir / 'data' / 'cassandra'}",
        "org.apache.cassandra.tools.NodeTool",
        "-h",
        "127.0.0.1",
        "-p",
        str(settings.cassandra_jmx_port),
        *(args or ("status",)),
    )


def cqlsh(settings: RuntimeSettings, *args: str) -> list[str]:
    return [
        str(Path(sys.executable).parent / "cqlsh"),
        settings.cassandra_host,
        str(settings.cassandra_port),
        *args,
    ]


def format_kafka_storage(settings: RuntimeSettings) -> bool:
    """Formats Kafka's log dir once (KRaft needs a cluster id); returns False when it already was."""
    log_dir = settings.var_dir / "data" / "kafka"
    if (log_dir / "meta.properties").exists():
        return False
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    config: Path = settings.var_dir / "run" / "kafka" / "server.properties"
    command = kafka_tool(settings, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config))
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"Kafka storage format failed: {(result.stderr or result.stdout).strip()}")
    return True
