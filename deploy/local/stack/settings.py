"""Typed settings of the local runtime, read from the environment and `.env`, validated before any I/O.

The local runtime's ports, heaps and paths; the Kafka and Cassandra connections every local client (health
probes, operations tools, benchmarks, tests) uses are built from them here. Defaults equal `.env.example`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from finnhub_pipeline import variables
from services import contracts, layout
from services.cassandra_session import CassandraConnection
from services.kafka_options import KafkaConnection

from . import credentials, security
from .security import SecuritySettings

ROOT = layout.ROOT
LOCALHOST = "127.0.0.1"
"""Every engine of the local runtime listens here only."""

Port = int
MEMORY = r"^\d+[kKmMgG]$"
PRODUCER_REPLICAS = 1
"""Producer processes the local runtime runs (one today; the cluster work turns this into a setting).
Prometheus scrapes one target per expected replica: `RuntimeSettings.producer_metrics_targets`."""


def _port(default: int, description: str = "") -> Port:
    return Field(default=default, ge=1, le=65535, description=description)


class RuntimeSettings(SecuritySettings):
    """Ports, heaps and paths of the local engines. Defaults equal `.env.example`."""

    model_config = SettingsConfigDict(env_file=ROOT / ".env", env_file_encoding="utf-8")

    var_dir: Path = Field(
        default=layout.DEFAULT_VAR_DIR, description="All runtime state: data, logs, jars, configs."
    )

    finnhub_api_key: SecretStr = SecretStr("")
    finnhub_ws_url: str = Field(default="wss://ws.finnhub.io", description="used only with an API key")
    symbols: str = "AAPL,GOOGL,MSFT,AMZN,TSLA,BINANCE:BTCUSDT,BINANCE:ETHUSDT"

    kafka_port: Port = _port(9092)
    kafka_controller_port: Port = _port(9097)
    kafka_heap: str = Field(default="512m", pattern=MEMORY)
    kafka_jmx_exporter_port: Port = _port(7071)
    kafka_replication_factor: int = Field(default=1, ge=1, description="of the pipeline's topics")

    cassandra_host: str = LOCALHOST
    cassandra_port: Port = _port(9042)
    cassandra_storage_port: Port = _port(7000)
    cassandra_jmx_port: Port = _port(7199)
    cassandra_heap: str = Field(default="1G", pattern=MEMORY)
    cassandra_jmx_exporter_port: Port = _port(7072)
    cassandra_replication_factor: int = Field(default=1, ge=1, description="of the trading keyspace")

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

    producer_metrics_port: Port = _port(contracts.PRODUCER_METRICS_PORT)
    simulator_port: Port = _port(contracts.SIMULATOR_PORT)
    spark_metrics_port: Port = _port(
        contracts.SPARK_METRICS_PORT, "the Spark job's metrics: the job, its health sensor, the scrape target"
    )
    spark_executor_memory: str = Field(
        default=variables.SPARK_EXECUTOR_MEMORY.default,
        pattern=MEMORY,
        description="each Spark executor's memory (the stream_supervisor DAG's spark.executor.memory)",
    )

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
    def _one_service_per_port(self) -> Self:
        seen: dict[int, str] = {}
        for owner, port in self.tcp_ports.items():
            if port in seen:
                raise ValueError(
                    f"port {port} is set for both {seen[port]} and {owner}; give each its own port"
                )
            seen[port] = owner
        return self

    @property
    def airflow_db_url(self) -> str:
        url = self.airflow_database_url.get_secret_value()
        return url or f"sqlite:///{self.var_dir / 'airflow' / 'airflow.db'}"

    @property
    def uses_simulator(self) -> bool:
        """Without an API key the pipeline runs on the built-in Finnhub simulator."""
        return not self.finnhub_api_key.get_secret_value()

    @property
    def producer_metrics_targets(self) -> tuple[str, ...]:
        """host:port of every producer replica the runtime expects (replica i on producer_metrics_port + i):
        Prometheus scrapes each one, so a replica that never came up is a down target."""
        return tuple(f"{LOCALHOST}:{self.producer_metrics_port + i}" for i in range(PRODUCER_REPLICAS))

    @property
    def kafka_bootstrap(self) -> str:
        """The local broker's client listener, host:port."""
        return f"{LOCALHOST}:{self.kafka_port}"

    def kafka_connection(self) -> KafkaConnection:
        """How every local Kafka client of the runtime and its tools reaches the broker: plaintext, or with
        ENABLE_SSL as the admin principal over SASL_SSL (the producer and the Spark job have their own)."""
        passwords = security.passwords(self)
        if passwords is None:
            return KafkaConnection(bootstrap_servers=self.kafka_bootstrap)
        return security.kafka_connection(self, credentials.KAFKA_ADMIN, passwords)

    def cassandra_connection(self) -> CassandraConnection:
        """How every local Cassandra client of the runtime and its tools reaches the node (the shared
        defaults for the rest): with ENABLE_SSL as pipeline_admin over TLS."""
        passwords = security.passwords(self)
        if passwords is None:
            return CassandraConnection(hosts=(self.cassandra_host,), port=self.cassandra_port)
        return security.cassandra_connection(self, credentials.CASSANDRA_ADMIN, passwords)

    @property
    def checkpoint_dir(self) -> Path:
        """The Airflow-run Spark job's checkpoint."""
        return layout.checkpoint_dir(self.var_dir)

    @property
    def tcp_ports(self) -> dict[str, int]:
        """Every TCP port the runtime listens on, by what listens there (checked for collisions)."""
        return {
            "kafka": self.kafka_port,
            "kafka controller": self.kafka_controller_port,
            "kafka jmx exporter": self.kafka_jmx_exporter_port,
            "cassandra": self.cassandra_port,
            "cassandra storage": self.cassandra_storage_port,
            "cassandra jmx": self.cassandra_jmx_port,
            "cassandra jmx exporter": self.cassandra_jmx_exporter_port,
            "prometheus": self.prometheus_port,
            "alertmanager": self.alertmanager_port,
            "alert log": self.alert_log_port,
            "statsd exporter": self.statsd_exporter_web_port,
            "airflow": self.airflow_port,
            "producer metrics": self.producer_metrics_port,
            "simulator": self.simulator_port,
            "spark stream metrics": self.spark_metrics_port,
        }


def _is_web_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a malformed port)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not any(c.isspace() for c in url)


def load_settings() -> RuntimeSettings:
    """The runtime's settings from the environment and `.env`; raises `ConfigError` with one line."""
    return RuntimeSettings.load()
