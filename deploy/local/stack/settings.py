"""Typed settings of the local runtime, read from the environment and `.env`, validated before any I/O."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parents[3]

Port = int


class RuntimeSettings(BaseSettings):
    """Ports, heaps and paths of the local engines. Defaults equal `.env.example`."""

    model_config = SettingsConfigDict(env_file=ROOT / ".env", extra="ignore", env_file_encoding="utf-8")

    var_dir: Path = Field(default=ROOT / "var", description="All runtime state: data, logs, jars, configs.")

    finnhub_api_key: SecretStr = SecretStr("")
    finnhub_ws_url: str = Field(default="wss://ws.finnhub.io", description="used only with an API key")
    symbols: str = "AAPL,GOOGL,MSFT,AMZN,TSLA,BINANCE:BTCUSDT,BINANCE:ETHUSDT"

    kafka_port: Port = Field(default=9092, ge=1, le=65535)
    kafka_controller_port: Port = Field(default=9097, ge=1, le=65535)
    kafka_heap: str = Field(default="512m", pattern=r"^\d+[kKmMgG]$")
    kafka_jmx_exporter_port: Port = Field(default=7071, ge=1, le=65535)
    kafka_replication_factor: int = Field(default=1, ge=1, description="of the pipeline's topics")

    cassandra_host: str = "127.0.0.1"
    cassandra_port: Port = Field(default=9042, ge=1, le=65535)
    cassandra_storage_port: Port = Field(default=7000, ge=1, le=65535)
    cassandra_jmx_port: Port = Field(default=7199, ge=1, le=65535)
    cassandra_heap: str = Field(default="1G", pattern=r"^\d+[kKmMgG]$")
    cassandra_jmx_exporter_port: Port = Field(default=7072, ge=1, le=65535)
    cassandra_replication_factor: int = Field(default=1, ge=1, description="of the trading keyspace")

    prometheus_port: Port = Field(default=9090, ge=1, le=65535)
    alertmanager_port: Port = Field(default=9093, ge=1, le=65535)
    statsd_exporter_web_port: Port = Field(default=9102, ge=1, le=65535)
    statsd_exporter_udp_port: Port = Field(default=9125, ge=1, le=65535)
    slack_webhook_url: SecretStr = SecretStr("")

    airflow_port: Port = Field(default=8080, ge=1, le=65535)
    airflow_database_url: SecretStr = Field(
        default=SecretStr(""),
        description="SQLAlchemy URL of Airflow's metadata database; empty: SQLite in var/",
    )

    producer_metrics_port: Port = Field(default=8000, ge=1, le=65535)
    simulator_port: Port = Field(default=8765, ge=1, le=65535)
    spark_metrics_port: Port = Field(default=8001, ge=1, le=65535)

    @property
    def airflow_db_url(self) -> str:
        url = self.airflow_database_url.get_secret_value()
        return url or f"sqlite:///{self.var_dir / 'airflow' / 'airflow.db'}"

    @property
    def uses_simulator(self) -> bool:
        """Without an API key the pipeline runs on the built-in Finnhub simulator."""
        return not self.finnhub_api_key.get_secret_value()

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

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
            "statsd exporter": self.statsd_exporter_web_port,
            "airflow": self.airflow_port,
            "producer metrics": self.producer_metrics_port,
            "simulator": self.simulator_port,
            "spark stream metrics": self.spark_metrics_port,
        }


class ConfigError(Exception):
    """A setting is invalid; the message names it and is safe to print (no secret)."""


def load_settings() -> RuntimeSettings:
    from pydantic import ValidationError

    try:
        settings = RuntimeSettings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(part) for part in first["loc"]).upper()
        raise ConfigError(f"invalid setting {name}: {first['msg']}") from None
    seen: dict[int, str] = {}
    for owner, port in settings.tcp_ports.items():
        if port in seen:
            raise ConfigError(f"port {port} is set for both {seen[port]} and {owner}; give each its own port")
        seen[port] = owner
    return settings
