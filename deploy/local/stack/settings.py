"""Typed settings of the local runtime, read from the environment and `.env`, validated before any I/O.

The local runtime's topology, ports, heaps and paths; the Kafka and Cassandra connections every local client
(health probes, operations tools, benchmarks, tests) uses are built from them here. Defaults equal
`.env.example`; a setting left empty there follows TOPOLOGY (`TOPOLOGY_DEFAULTS`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from finnhub_pipeline import variables
from services import contracts, layout
from services.cassandra_session import CassandraConnection
from services.configuration import ConfigError
from services.kafka_options import KafkaConnection

from . import credentials, pki, security
from .security import SecuritySettings

ROOT = layout.ROOT
LOCALHOST = "127.0.0.1"
"""Every engine of the local runtime listens here only."""

Port = int
MEMORY = r"^\d+[kKmMgG]$"
Topology = Literal["single", "cluster"]
NODE_HOSTS: tuple[str, ...] = tuple(a for a in pki.SERVER_ADDRESSES if a[0].isdigit())
"""The loopback addresses nodes of one engine listen on, node i on the i-th (127.0.0.1-3): every one binds
without set-up, and the generated certificates name exactly these, so ENABLE_SSL holds on every node."""
CLUSTER_NODES = 3
"""Kafka brokers and Cassandra nodes of TOPOLOGY=cluster: a controller quorum and a LOCAL_QUORUM of three
survive the loss of any one node; more would need more addresses in the certificates."""
PORT_STRIDE = 100
"""Between the ports of processes of one kind that share 127.0.0.1: Cassandra binds JMX there whatever its
address, so node i uses CASSANDRA_JMX_PORT + (i-1) x 100 (7199, 7299, 7399); producer replica i serves its
metrics on PRODUCER_METRICS_PORT + i x 100 (8000, 8100: + i would put replica 1 on the job's 8001)."""

TOPOLOGY_DEFAULTS: dict[str, dict[Topology, object]] = {
    # setting: {topology: the value used when the setting is empty}
    "kafka_nodes": {"single": 1, "cluster": CLUSTER_NODES},
    "cassandra_nodes": {"single": 1, "cluster": CLUSTER_NODES},
    "spark_workers": {"single": 0, "cluster": 2},
    "producer_replicas": {"single": 1, "cluster": 2},
    # Per node. Cluster: research on this 2-core box (docs/deployment.md, "Cluster mode"): a 256m broker with
    # a 16 MiB dedupe buffer is ~0.25 GB resident, a 512M Cassandra node ~1.1 GB loaded.
    "kafka_heap": {"single": "512m", "cluster": "256m"},
    "cassandra_heap": {"single": "1G", "cluster": "512M"},
}
"""What an empty setting means in each topology. The replication factors follow the node counts."""


def _port(default: int, description: str = "") -> Port:
    return Field(default=default, ge=1, le=65535, description=description)


class RuntimeSettings(SecuritySettings):
    """Ports, heaps and paths of the local engines. Defaults equal `.env.example`."""

    model_config = SettingsConfigDict(env_file=ROOT / ".env", env_file_encoding="utf-8")

    var_dir: Path = Field(
        default=layout.DEFAULT_VAR_DIR, description="All runtime state: data, logs, jars, configs."
    )

    finnhub_api_key: SecretStr = SecretStr("")
    finnhub_api_keys: SecretStr = Field(
        default=SecretStr(""),
        description="comma-separated, one per producer replica in index order (PRODUCER_REPLICAS > 1)",
    )
    finnhub_ws_url: str = Field(default="wss://ws.finnhub.io", description="used only with an API key")
    symbols: str = "AAPL,GOOGL,MSFT,AMZN,TSLA,BINANCE:BTCUSDT,BINANCE:ETHUSDT"

    topology: Topology = Field(
        default="single",
        description="single: one node of each engine, Spark in local mode; cluster: three Kafka brokers and "
        "three Cassandra nodes on 127.0.0.1-3, a Spark standalone master and workers",
    )

    kafka_port: Port = _port(9092, "every broker's client port, each on its own address")
    kafka_controller_port: Port = _port(9097)
    kafka_nodes: int | None = Field(default=None, ge=1, le=len(NODE_HOSTS), description="empty: TOPOLOGY's")
    kafka_heap: str | None = Field(default=None, pattern=MEMORY, description="per broker; empty: TOPOLOGY's")
    kafka_jmx_exporter_port: Port = _port(7071)
    kafka_replication_factor: int | None = Field(
        default=None, ge=1, description="of the pipeline's topics; empty: one per broker"
    )

    cassandra_host: str = Field(default=LOCALHOST, description="the node of TOPOLOGY=single")
    cassandra_port: Port = _port(9042)
    cassandra_storage_port: Port = _port(7000)
    cassandra_jmx_port: Port = _port(7199, "node 1's; node i's is this + (i-1) x 100")
    cassandra_nodes: int | None = Field(
        default=None, ge=1, le=len(NODE_HOSTS), description="empty: TOPOLOGY's"
    )
    cassandra_heap: str | None = Field(
        default=None, pattern=MEMORY, description="per node; empty: TOPOLOGY's"
    )
    cassandra_jmx_exporter_port: Port = _port(7072)
    cassandra_replication_factor: int | None = Field(
        default=None, ge=1, description="of the trading keyspace; empty: one per node"
    )

    prometheus_port: Port = _port(9090)
    alertmanager_port: Port = _port(9093)
    alert_log_port: Port = _port(
        9095, "the local alert log receiver: every notification into var/log/alerts.log"
    )
    statsd_exporter_web_port: Port = _port(9102)
    statsd_exporter_udp_port: Port = _port(9125)
    slack_webhook_url: SecretStr = Field(
        default=SecretStr(""), description="Slack incoming webhook for every alert; empty: local log only"
    )
    runbook_base_url: str = Field(
        default="",
        description="where docs/ opens for the alerts' runbook links; empty: derived from the git remote",
    )

    airflow_port: Port = _port(8080)
    airflow_database_url: SecretStr = Field(
        default=SecretStr(""),
        description="SQLAlchemy URL of Airflow's metadata database; empty: SQLite in var/",
    )

    producer_metrics_port: Port = _port(
        contracts.PRODUCER_METRICS_PORT, "replica i's metrics are on this port + i x 100"
    )
    producer_replicas: int | None = Field(
        default=None,
        ge=1,
        description="producer processes, each with its share of SYMBOLS; empty: TOPOLOGY's",
    )
    simulator_port: Port = _port(contracts.SIMULATOR_PORT)
    spark_metrics_port: Port = _port(
        contracts.SPARK_METRICS_PORT, "the Spark job's metrics: the job, its health sensor, the scrape target"
    )
    spark_executor_memory: str = Field(
        default=variables.SPARK_EXECUTOR_MEMORY.default,
        pattern=MEMORY,
        description="each Spark executor's memory (the stream_supervisor DAG's spark.executor.memory)",
    )
    spark_executor_cores: int = Field(default=1, ge=1, description="cores of each executor (cluster)")
    spark_workers: int | None = Field(default=None, ge=0, le=8, description="empty: TOPOLOGY's")
    spark_worker_cores: int = Field(default=1, ge=1, description="cores each worker offers its executors")
    spark_worker_memory: str = Field(
        default="1g", pattern=MEMORY, description="memory each worker offers its executors (not its own heap)"
    )
    spark_daemon_memory: str = Field(
        default="256m", pattern=MEMORY, description="the master's and workers' heap"
    )
    spark_master_port: Port = _port(7077)
    spark_master_webui_port: Port = _port(8090, "not Spark's 8080: Airflow's")
    spark_worker_port: Port = _port(7078, "worker i's is this + (i-1)")
    spark_worker_webui_port: Port = _port(8091, "worker i's is this + (i-1)")

    @field_validator("slack_webhook_url")
    @classmethod
    def _webhook_is_a_url(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value().strip()
        if url and not _is_web_url(url):
            # The value is a secret: the message never quotes it.
            raise ValueError("must be an http(s) URL with a host, like https://hooks.slack.com/services/...")
        return SecretStr(url)

    @field_validator("runbook_base_url")
    @classmethod
    def _runbook_base_is_a_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and (
            any(c.isspace() or c in "\"'" for c in value)
            or not (_is_web_url(value) or value.startswith("file:///"))
        ):
            raise ValueError("must be an http(s) or file:/// URL of the folder holding troubleshooting.md")
        return value

    @model_validator(mode="after")
    def _topology(self) -> Self:
        """Fills the settings left empty from TOPOLOGY, then checks that nodes, replication factors and
        executors agree; each refusal is one line naming the setting."""
        for name, defaults in TOPOLOGY_DEFAULTS.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, defaults[self.topology])
        for engine, what in (("kafka", "broker"), ("cassandra", "node")):
            nodes = int(getattr(self, f"{engine}_nodes"))
            if getattr(self, f"{engine}_replication_factor") is None:
                object.__setattr__(self, f"{engine}_replication_factor", nodes)
            _check_nodes(
                self.topology, engine, what, nodes, int(getattr(self, f"{engine}_replication_factor"))
            )
        if self.topology == "single" and self.spark_workers:
            raise ValueError(
                f"SPARK_WORKERS={self.spark_workers} needs TOPOLOGY=cluster: TOPOLOGY=single runs Spark "
                "in local mode inside the Airflow task; leave it empty"
            )
        if self.topology == "cluster":
            if not self.spark_workers:
                raise ValueError(
                    "SPARK_WORKERS=0: TOPOLOGY=cluster runs the Spark job on workers; set 1 or more"
                )
            if memory_bytes(self.spark_executor_memory) > memory_bytes(self.spark_worker_memory):
                raise ValueError(
                    f"SPARK_EXECUTOR_MEMORY={self.spark_executor_memory} is more than a worker offers "
                    f"(SPARK_WORKER_MEMORY={self.spark_worker_memory}): no executor could start"
                )
            if self.spark_executor_cores > self.spark_worker_cores:
                raise ValueError(
                    f"SPARK_EXECUTOR_CORES={self.spark_executor_cores} is more than a worker offers "
                    f"(SPARK_WORKER_CORES={self.spark_worker_cores}): no executor could start"
                )
        return self

    @model_validator(mode="after")
    def _one_key_per_replica(self) -> Self:
        """Finnhub keeps one WebSocket per key: replicas sharing a key would disconnect each other."""
        replicas, keys = int(self.producer_replicas or 1), _keys(self.finnhub_api_keys)
        if keys and len(keys) != replicas:
            raise ValueError(
                f"FINNHUB_API_KEYS holds {len(keys)} keys for PRODUCER_REPLICAS={replicas}: one per replica"
            )
        if not keys and replicas > 1 and self.finnhub_api_key.get_secret_value():
            raise ValueError(
                f"FINNHUB_API_KEY is one key for PRODUCER_REPLICAS={replicas}: Finnhub keeps one connection "
                "per key; give one key per replica in FINNHUB_API_KEYS, or set PRODUCER_REPLICAS=1"
            )
        return self

    @model_validator(mode="after")
    def _one_service_per_port(self) -> Self:
        seen: dict[tuple[str, int], str] = {}
        for owner, (host, port) in self.endpoints.items():
            # A port on 127.0.0.1 and the same port on 127.0.0.2 do not clash: nodes rely on that.
            if (host, port) in seen:
                raise ValueError(
                    f"port {port} is set for both {seen[(host, port)]} and {owner}; give each its own port"
                )
            seen[(host, port)] = owner
        return self

    @property
    def airflow_db_url(self) -> str:
        url = self.airflow_database_url.get_secret_value()
        return url or f"sqlite:///{self.var_dir / 'airflow' / 'airflow.db'}"

    @property
    def uses_simulator(self) -> bool:
        """Without an API key the pipeline runs on the built-in Finnhub simulator."""
        return not (self.finnhub_api_key.get_secret_value() or self.finnhub_api_keys.get_secret_value())

    def replica_api_key(self, replica: int) -> str:
        """Producer replica `replica`'s (0-based) Finnhub key: its own from FINNHUB_API_KEYS, or the one
        FINNHUB_API_KEY when it is the only replica (`_one_key_per_replica` refuses anything else)."""
        keys = _keys(self.finnhub_api_keys)
        return keys[replica] if keys else self.finnhub_api_key.get_secret_value()

    @property
    def cluster(self) -> bool:
        return self.topology == "cluster"

    @property
    def kafka_hosts(self) -> tuple[str, ...]:
        """Every broker's address: 127.0.0.1 alone, or one loopback address per broker."""
        return NODE_HOSTS[: int(self.kafka_nodes or 1)]

    @property
    def cassandra_hosts(self) -> tuple[str, ...]:
        """Every Cassandra node's address: CASSANDRA_HOST alone, or one loopback address per node."""
        return NODE_HOSTS[: int(self.cassandra_nodes or 1)] if self.cluster else (self.cassandra_host,)

    def cassandra_node_jmx_port(self, node: int) -> int:
        """The JMX port (nodetool) of Cassandra node `node` (1-based)."""
        return self.cassandra_jmx_port + (node - 1) * PORT_STRIDE

    def producer_replica_metrics_port(self, replica: int) -> int:
        """The metrics port of producer replica `replica` (0-based)."""
        return self.producer_metrics_port + replica * PORT_STRIDE

    @property
    def producer_metrics_targets(self) -> tuple[str, ...]:
        """host:port of every producer replica the runtime expects (`producer_replica_metrics_port`):
        Prometheus scrapes each one, so a replica that never came up is a down target."""
        return tuple(
            f"{LOCALHOST}:{self.producer_replica_metrics_port(i)}"
            for i in range(int(self.producer_replicas or 1))
        )

    @property
    def kafka_jmx_targets(self) -> tuple[str, ...]:
        """host:port of every broker's JMX exporter (Prometheus' kafka job)."""
        return tuple(f"{host}:{self.kafka_jmx_exporter_port}" for host in self.kafka_hosts)

    @property
    def cassandra_jmx_targets(self) -> tuple[str, ...]:
        """host:port of every Cassandra node's JMX exporter (Prometheus' cassandra job)."""
        return tuple(f"{host}:{self.cassandra_jmx_exporter_port}" for host in self.cassandra_hosts)

    @property
    def spark_master_url(self) -> str:
        """The standalone master's URL (TOPOLOGY=cluster); `local[*]` runs the job inside its driver."""
        return f"spark://{LOCALHOST}:{self.spark_master_port}" if self.cluster else "local[*]"

    @property
    def spark_total_executor_cores(self) -> int:
        """The job's cap on cores (spark.cores.max): every worker's, so a second application waits for it
        rather than the job taking cores it cannot use, and the cap is explicit in the submit."""
        return int(self.spark_workers or 0) * self.spark_worker_cores

    @property
    def kafka_bootstrap(self) -> str:
        """Every broker's client listener, host:port, comma-separated: the one bootstrap list of every local
        Kafka client (the producer, the Spark job, Airflow, the tools, the tests)."""
        return ",".join(f"{host}:{self.kafka_port}" for host in self.kafka_hosts)

    def kafka_connection(self) -> KafkaConnection:
        """How every local Kafka client of the runtime and its tools reaches the brokers: plaintext, or with
        ENABLE_SSL as the admin principal over SASL_SSL (the producer and the Spark job have their own)."""
        passwords = security.passwords(self)
        if passwords is None:
            return KafkaConnection(bootstrap_servers=self.kafka_bootstrap)
        return security.kafka_connection(self, credentials.KAFKA_ADMIN, passwords)

    def cassandra_connection(self) -> CassandraConnection:
        """How every local Cassandra client of the runtime and its tools reaches the nodes (the shared
        defaults for the rest): every node as a contact point; with ENABLE_SSL as pipeline_admin over TLS."""
        passwords = security.passwords(self)
        if passwords is None:
            return CassandraConnection(hosts=self.cassandra_hosts, port=self.cassandra_port)
        connection = security.cassandra_connection(self, credentials.CASSANDRA_ADMIN, passwords)
        return dataclasses.replace(connection, hosts=self.cassandra_hosts)

    @property
    def state_dir(self) -> Path:
        """Where the topology's own state lives: engine data, the job's checkpoint, the bootstrap marker.
        TOPOLOGY=single keeps today's places under var/; the cluster has var/cluster/, so switching neither
        mixes a one-node and a three-node Kafka log nor points the job's checkpoint at another topic."""
        return self.var_dir / "cluster" if self.cluster else self.var_dir

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "data"

    @property
    def checkpoint_dir(self) -> Path:
        """The Airflow-run Spark job's checkpoint."""
        return layout.checkpoint_dir(self.state_dir)

    @property
    def tcp_ports(self) -> dict[str, int]:
        """Every TCP port the runtime listens on, by what listens there."""
        return {owner: port for owner, (_, port) in self.endpoints.items()}

    @property
    def endpoints(self) -> dict[str, tuple[str, int]]:
        """Every (address, port) the runtime listens on, by what listens there (checked for collisions): a
        cluster node's entries name the node and the setting its port comes from."""
        local = LOCALHOST
        found: dict[str, tuple[str, int]] = {}
        for i, host in enumerate(self.kafka_hosts, start=1):
            node = f"kafka-{i} " if self.cluster else "kafka "
            found[f"{node.strip()}"] = (host, self.kafka_port)
            found[f"{node}controller"] = (host, self.kafka_controller_port)
            found[f"{node}jmx exporter"] = (host, self.kafka_jmx_exporter_port)
        for i, host in enumerate(self.cassandra_hosts, start=1):
            node = f"cassandra-{i} " if self.cluster else "cassandra "
            found[f"{node.strip()}"] = (host, self.cassandra_port)
            found[f"{node}storage"] = (host, self.cassandra_storage_port)
            jmx = "" if i == 1 else f" (CASSANDRA_JMX_PORT + {(i - 1) * PORT_STRIDE})"
            found[f"{node}jmx{jmx}"] = (local, self.cassandra_node_jmx_port(i))  # always on 127.0.0.1
            found[f"{node}jmx exporter"] = (host, self.cassandra_jmx_exporter_port)
        found |= {
            "prometheus": (local, self.prometheus_port),
            "alertmanager": (local, self.alertmanager_port),
            "alert log": (local, self.alert_log_port),
            "statsd exporter": (local, self.statsd_exporter_web_port),
            "airflow": (local, self.airflow_port),
            "simulator": (local, self.simulator_port),
            "spark stream metrics": (local, self.spark_metrics_port),
        }
        for i in range(int(self.producer_replicas or 1)):
            suffix = "" if i == 0 else f" of replica {i} (PRODUCER_METRICS_PORT + {i * PORT_STRIDE})"
            found[f"producer metrics{suffix}"] = (local, self.producer_replica_metrics_port(i))
        if self.cluster:
            found["spark master"] = (local, self.spark_master_port)
            found["spark master web UI"] = (local, self.spark_master_webui_port)
            for i in range(int(self.spark_workers or 0)):
                plus = f" + {i}" if i else ""
                found[f"spark-worker-{i + 1} (SPARK_WORKER_PORT{plus})"] = (local, self.spark_worker_port + i)
                found[f"spark-worker-{i + 1} web UI (SPARK_WORKER_WEBUI_PORT{plus})"] = (
                    local,
                    self.spark_worker_webui_port + i,
                )
        return found


def memory_bytes(size: str) -> int:
    """`512m`, `1G`, ... (the JVM's notation, MEMORY) in bytes."""
    match = re.fullmatch(r"(\d+)([kKmMgG])", size)
    if match is None:
        raise ValueError(f"not a memory size: {size!r}")
    return int(match.group(1)) * 1024 ** "kmg".index(match.group(2).lower()) * 1024


def _check_nodes(topology: str, engine: str, what: str, nodes: int, replication_factor: int) -> None:
    """Node count and replication factor of one engine against the topology (ValueError naming both)."""
    upper = engine.upper()
    if topology == "single" and nodes != 1:
        raise ValueError(
            f"{upper}_NODES={nodes} needs TOPOLOGY=cluster (TOPOLOGY=single runs one {what}); leave it empty"
        )
    if topology == "cluster" and nodes != CLUSTER_NODES:
        raise ValueError(
            f"{upper}_NODES={nodes}: TOPOLOGY=cluster runs {CLUSTER_NODES} (the fewest that survive losing "
            f"one: a majority of {CLUSTER_NODES} is still there; the certificates name "
            f"{', '.join(NODE_HOSTS)})"
        )
    if replication_factor > nodes:
        raise ValueError(
            f"{upper}_REPLICATION_FACTOR={replication_factor} is larger than the {nodes} {what}(s) "
            f"TOPOLOGY={topology} runs ({upper}_NODES={nodes}): no topic or keyspace could be placed"
        )
    if replication_factor < nodes:
        raise ValueError(
            f"{upper}_REPLICATION_FACTOR={replication_factor} disagrees with {upper}_NODES={nodes}: "
            f"TOPOLOGY=cluster keeps every record on every {what} so that losing any one loses nothing; "
            f"set {nodes}, or leave it empty"
        )


def _keys(value: SecretStr) -> list[str]:
    return [key.strip() for key in value.get_secret_value().split(",") if key.strip()]


def _is_web_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a malformed port)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not any(c.isspace() for c in url)


RUNNING_SHAPE = (
    "topology",
    "kafka_nodes",
    "kafka_replication_factor",
    "cassandra_nodes",
    "cassandra_replication_factor",
    "spark_workers",
    "producer_replicas",
)
"""The settings that say which nodes run: `stack up` records them, so tools talk to what is running."""


def running_topology_file(var_dir: Path) -> Path:
    """Written by `stack up`, removed by `stack down`: the shape of the running stack (`RUNNING_SHAPE`)."""
    return var_dir / "run" / "topology"


def record_running_shape(settings: RuntimeSettings) -> None:
    marker = running_topology_file(settings.var_dir)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({name: getattr(settings, name) for name in RUNNING_SHAPE}) + "\n")


def running_shape(var_dir: Path) -> dict[str, object]:
    """The running stack's shape as `record_running_shape` wrote it; {} when none runs."""
    marker = running_topology_file(var_dir)
    text = marker.read_text().strip() if marker.exists() else ""
    if text in ("single", "cluster"):  # written by an older `stack up`: the topology alone
        return {"topology": text}
    try:
        shape = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {}
    return {name: value for name, value in shape.items() if name in RUNNING_SHAPE}


def load_settings(follow_running: bool = True) -> RuntimeSettings:
    """The runtime's settings from the environment and `.env`; raises `ConfigError` with one line.

    With `follow_running`, a tool asking about the stack (status, down, nodetool, lag, the tests) talks to
    the stack that is running, unless TOPOLOGY is set in the environment: after `make up TOPOLOGY=cluster
    KAFKA_REPLICATION_FACTOR=3 ...`, `make status` lists the cluster's nodes and `make down` stops them,
    though `.env` says single. `stack up` itself starts what the settings say."""
    if not follow_running or os.environ.get("TOPOLOGY"):
        return RuntimeSettings.load()
    try:
        var_dir = RuntimeSettings.load().var_dir
    except ConfigError:  # `.env` alone may not describe the running stack (a cluster started with RF 3)
        var_dir = Path(os.environ.get("VAR_DIR") or layout.DEFAULT_VAR_DIR)
    return RuntimeSettings.load(**running_shape(var_dir))
