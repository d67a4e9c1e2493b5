"""How every Kafka client of the pipeline connects: one typed connection and the dialects built from it.

`KafkaConnection.client_options()` is the librdkafka configuration (confluent-kafka: the producer, the
operations tools, Airflow's `kafka_default` connection, health probes, benchmarks, tests);
`spark_source_options()` is the same connection as the Spark Kafka source's `kafka.`-prefixed options, and
`java_client_properties()` as the properties file Kafka's own command-line tools read (`--command-config`).
Security (SASL_SSL with SCRAM-SHA-512 and the pipeline's CA) and cluster settings are set here, once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator

from services.configuration import PipelineSettings

DEFAULT_BOOTSTRAP_SERVERS = "127.0.0.1:9092"
SASL_MECHANISM = "SCRAM-SHA-512"
SecurityProtocol = Literal["PLAINTEXT", "SASL_SSL"]


@dataclass(frozen=True)
class KafkaConnection:
    """Where the brokers are and how to reach them; small and picklable (it travels to Spark's driver).

    PLAINTEXT, or SASL_SSL: SCRAM-SHA-512 as `username`, over TLS verified against the CA in `ca_location`
    (host names checked against the brokers' certificates).
    """

    bootstrap_servers: str = DEFAULT_BOOTSTRAP_SERVERS
    security_protocol: SecurityProtocol = "PLAINTEXT"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_location: str | None = None

    def __post_init__(self) -> None:
        if self.security_protocol == "SASL_SSL":
            missing = [name for name in ("username", "password", "ca_location") if not getattr(self, name)]
            if missing:
                raise ValueError(f"a SASL_SSL Kafka connection needs {', '.join(missing)}")
            # The JAAS line quotes the credentials: a quote or backslash in them would end it early.
            for name in ("username", "password"):
                if any(c in str(getattr(self, name)) for c in '"\\'):
                    raise ValueError(f"the Kafka {name} must not contain a double quote or a backslash")

    @property
    def secured(self) -> bool:
        return self.security_protocol == "SASL_SSL"

    def client_options(self, tuning: Mapping[str, Any] | None = None, /, **extra: Any) -> dict[str, Any]:
        """librdkafka configuration for any confluent-kafka client; `tuning` (librdkafka's dotted names) and
        `extra` add the client's own settings, never the connection's."""
        options: dict[str, Any] = {"bootstrap.servers": self.bootstrap_servers}
        if self.secured:
            options |= {
                "security.protocol": "SASL_SSL",
                "sasl.mechanism": SASL_MECHANISM,
                "sasl.username": self.username,
                "sasl.password": self.password,
                "ssl.ca.location": self.ca_location,
                "ssl.endpoint.identification.algorithm": "https",
            }
        return {**options, **(tuning or {}), **extra}

    def as_settings(self) -> dict[str, str]:
        """The connection as `KafkaClientSettings` values by field name: the environment variables (upper-
        cased) or the PIPELINE_SECRETS_DIR files (as named) that give a child program this connection."""
        values = {
            "kafka_bootstrap_servers": self.bootstrap_servers,
            "kafka_security_protocol": self.security_protocol,
        }
        if self.secured:
            values |= {
                "kafka_sasl_username": str(self.username),
                "kafka_sasl_password": str(self.password),
                "kafka_ssl_ca_location": str(self.ca_location),
            }
        return values

    def spark_source_options(self) -> dict[str, str]:
        """The connection as options of Spark's Kafka source (Java client names with the `kafka.` prefix).

        Never log them: with SASL_SSL they hold the password (Spark and the Kafka client redact it)."""
        return {f"kafka.{key}": value for key, value in self._java_properties().items()}

    def java_client_properties(self) -> str:
        """The connection as a Java client properties file (`--command-config` of Kafka's tools); write it
        with mode 0600: with SASL_SSL it holds the password."""
        return "".join(f"{key}={value}\n" for key, value in self._java_properties().items())

    def _java_properties(self) -> dict[str, str]:
        properties = {"bootstrap.servers": self.bootstrap_servers}
        if self.secured:
            properties |= {
                "security.protocol": "SASL_SSL",
                "sasl.mechanism": SASL_MECHANISM,
                "sasl.jaas.config": (
                    "org.apache.kafka.common.security.scram.ScramLoginModule required "
                    f'username="{self.username}" password="{self.password}";'
                ),
                "ssl.truststore.type": "PEM",
                "ssl.truststore.location": str(self.ca_location),
            }
        return properties


class KafkaClientSettings(PipelineSettings):
    """The Kafka connection variables shared by every program that reads its settings from the environment.

    KAFKA_SASL_PASSWORD may also come from a file named `kafka_sasl_password` in PIPELINE_SECRETS_DIR."""

    kafka_bootstrap_servers: str = Field(DEFAULT_BOOTSTRAP_SERVERS, min_length=1)
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_ca_location: Path | None = None

    @model_validator(mode="after")
    def _check_kafka_security(self) -> KafkaClientSettings:
        self.kafka_connection()  # raises ValueError naming what a secured connection lacks
        return self

    def kafka_connection(self) -> KafkaConnection:
        return KafkaConnection(
            bootstrap_servers=self.kafka_bootstrap_servers,
            security_protocol=self.kafka_security_protocol,
            username=self.kafka_sasl_username,
            password=self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else None,
            ca_location=str(self.kafka_ssl_ca_location) if self.kafka_ssl_ca_location else None,
        )
