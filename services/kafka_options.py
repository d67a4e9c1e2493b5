"""How every Kafka client of the pipeline connects: one typed connection and the two dialects built from it.

`KafkaConnection.client_options()` is the librdkafka configuration (confluent-kafka: the producer, the
operations tools, Airflow's `kafka_default` connection, health probes, benchmarks, tests);
`KafkaConnection.spark_source_options()` is the same connection as the Spark Kafka source's `kafka.`-prefixed
options. Security and cluster settings are added here, once, and reach every client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from services.configuration import PipelineSettings

DEFAULT_BOOTSTRAP_SERVERS = "127.0.0.1:9092"


@dataclass(frozen=True)
class KafkaConnection:
    """Where the brokers are and how to reach them; small and picklable (it travels to Spark's driver)."""

    bootstrap_servers: str = DEFAULT_BOOTSTRAP_SERVERS

    def client_options(self, tuning: Mapping[str, Any] | None = None, /, **extra: Any) -> dict[str, Any]:
        """librdkafka configuration for any confluent-kafka client; `tuning` (librdkafka's dotted names) and
        `extra` add the client's own settings, never the connection's."""
        return {"bootstrap.servers": self.bootstrap_servers, **(tuning or {}), **extra}

    def spark_source_options(self) -> dict[str, str]:
        """The connection as options of Spark's Kafka source (Java client names with the `kafka.` prefix)."""
        return {"kafka.bootstrap.servers": self.bootstrap_servers}


class KafkaClientSettings(PipelineSettings):
    """The Kafka connection variables shared by every program that reads its settings from the environment."""

    kafka_bootstrap_servers: str = Field(DEFAULT_BOOTSTRAP_SERVERS, min_length=1)

    def kafka_connection(self) -> KafkaConnection:
        return KafkaConnection(bootstrap_servers=self.kafka_bootstrap_servers)
