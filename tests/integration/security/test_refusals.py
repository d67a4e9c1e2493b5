"""What the secured servers refuse, each time with the server's own refusal: Kafka without TLS, with a wrong
password, without trusting the CA, and principals beyond their ACLs; Cassandra without credentials, with a
wrong password, without TLS, and the Spark job's role beyond its grants."""

from __future__ import annotations

import logging
import socket
import struct
import time
from dataclasses import replace
from typing import Any

import pytest
from cassandra import AuthenticationFailed, Unauthorized  # type: ignore[attr-defined]
from cassandra.cluster import NoHostAvailable
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from services import contracts
from services.cassandra_session import cassandra_session
from services.kafka_options import KafkaConnection
from stack import credentials, pki, security

from .conftest import SecuredRuntime

SYSTEM_CA = "/etc/ssl/certs/ca-certificates.crt"


def _kafka_errors(options: dict[str, Any], wait_s: float = 30) -> list[str]:
    """What librdkafka says (its error callback and its log) while a client fails to fetch metadata."""
    seen: list[str] = []

    class Captured(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    logger = logging.getLogger(f"refusal-{time.time_ns()}")
    logger.addHandler(Captured())
    logger.propagate = False
    config: dict[str, Any] = {**options, "error_cb": lambda error: seen.append(error.str()), "logger": logger}
    client = Producer(config)
    with pytest.raises(KafkaException):
        client.list_topics(timeout=wait_s)
    deadline = time.monotonic() + 10
    while len(seen) < 2 and time.monotonic() < deadline:
        client.poll(0.5)  # serves the queued error and log callbacks
    return seen


def test_kafka_refuses_a_plaintext_client(secured: SecuredRuntime) -> None:
    errors = _kafka_errors(KafkaConnection(secured.settings.kafka_bootstrap).client_options())
    assert any("brokers are down" in error for error in errors), errors
    # At the protocol level: a plaintext ApiVersions request (what every client sends first) is answered
    # with a fatal TLS alert record (type 0x15, level 2), not a Kafka response: the broker speaks TLS only.
    request = struct.pack(">ihhih", 10, 18, 0, 1, -1)  # size, ApiVersions, v0, correlation id, no client id
    with socket.create_connection(("127.0.0.1", secured.settings.kafka_port), timeout=30) as connection:
        connection.sendall(request)
        answer = connection.recv(1024)
    assert answer[:1] == b"\x15" and answer[5:6] == b"\x02", answer


def test_kafka_refuses_a_wrong_password(secured: SecuredRuntime) -> None:
    producer = security.kafka_connection(secured.settings, credentials.KAFKA_PRODUCER, secured.passwords)
    errors = _kafka_errors(replace(producer, password="not-the-password").client_options())
    assert any("Authentication failed" in error and "SCRAM-SHA-512" in error for error in errors), errors


def test_kafka_refuses_a_client_that_does_not_trust_the_pipeline_ca(secured: SecuredRuntime) -> None:
    producer = security.kafka_connection(secured.settings, credentials.KAFKA_PRODUCER, secured.passwords)
    errors = _kafka_errors(replace(producer, ca_location=SYSTEM_CA).client_options())
    assert any("certificate verify failed" in error for error in errors), errors


def test_the_producer_principal_may_neither_read_trades_nor_create_a_topic(secured: SecuredRuntime) -> None:
    producer = security.kafka_connection(secured.settings, credentials.KAFKA_PRODUCER, secured.passwords)
    consumer = Consumer(producer.client_options({"group.id": f"probe-{time.time_ns()}", "log_level": 0}))
    consumer.subscribe([contracts.TRADES_TOPIC])
    try:
        message = None
        deadline = time.monotonic() + 30
        while message is None and time.monotonic() < deadline:
            message = consumer.poll(1)
        error = message.error() if message is not None else None
        assert error is not None, "the producer principal read a record of trades"
        assert error.code() in (KafkaError.GROUP_AUTHORIZATION_FAILED, KafkaError.TOPIC_AUTHORIZATION_FAILED)
    finally:
        consumer.close()

    admin = AdminClient(producer.client_options(log_level=0))
    future = admin.create_topics([NewTopic(f"not-allowed-{time.time_ns()}", 1, 1)], request_timeout=30)
    (result,) = future.values()
    with pytest.raises(KafkaException) as refused:
        result.result(timeout=60)
    assert refused.value.args[0].code() in (
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    )


def test_the_spark_principal_may_not_write_trades(secured: SecuredRuntime) -> None:
    spark = security.kafka_connection(secured.settings, credentials.KAFKA_SPARK, secured.passwords)
    failures: list[KafkaError | None] = []
    producer = Producer(spark.client_options({"log_level": 0, "message.timeout.ms": 20_000}))
    producer.produce(contracts.TRADES_TOPIC, b"x", on_delivery=lambda error, _message: failures.append(error))
    producer.flush(60)
    assert failures and failures[0] is not None
    assert failures[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def _cassandra_refusal(
    connection: Any, statement: str = "SELECT release_version FROM system.local"
) -> Exception:
    try:
        session = cassandra_session(connection)
    except NoHostAvailable as error:
        (cause,) = error.errors.values()
        return cause
    try:
        session.execute(statement)
    except Exception as error:  # the server's refusal is the answer under test
        return error
    finally:
        session.cluster.shutdown()
    raise AssertionError(f"Cassandra accepted {statement!r} as {connection.username}")


def test_cassandra_refuses_a_client_without_credentials(secured: SecuredRuntime) -> None:
    anonymous = replace(secured.settings.cassandra_connection(), username=None, password=None)
    refusal = _cassandra_refusal(anonymous)
    assert isinstance(refusal, AuthenticationFailed) and "requires authentication" in str(refusal)


def test_cassandra_refuses_a_wrong_password(secured: SecuredRuntime) -> None:
    writer = security.cassandra_connection(secured.settings, credentials.CASSANDRA_WRITER, secured.passwords)
    refusal = _cassandra_refusal(replace(writer, password="not-the-password"))
    assert isinstance(refusal, AuthenticationFailed) and "password" in str(refusal)


def test_cassandra_refuses_a_client_without_tls(secured: SecuredRuntime) -> None:
    writer = security.cassandra_connection(secured.settings, credentials.CASSANDRA_WRITER, secured.passwords)
    refusal = _cassandra_refusal(replace(writer, ca_certs=None))
    assert isinstance(refusal, ConnectionError | OSError), repr(refusal)


def test_cassandra_refuses_a_client_that_does_not_trust_the_pipeline_ca(secured: SecuredRuntime) -> None:
    writer = security.cassandra_connection(secured.settings, credentials.CASSANDRA_WRITER, secured.passwords)
    refusal = _cassandra_refusal(replace(writer, ca_certs=SYSTEM_CA))
    assert "CERTIFICATE_VERIFY_FAILED" in str(refusal)


@pytest.mark.parametrize(
    "statement",
    [
        f"DROP TABLE {contracts.KEYSPACE}.{contracts.TRADES_TABLE}",
        "SELECT role FROM system_auth.roles",
        "CREATE KEYSPACE stolen WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
    ],
)
def test_the_stream_role_may_only_read_and_write_the_trading_tables(
    secured: SecuredRuntime, statement: str
) -> None:
    writer = security.cassandra_connection(secured.settings, credentials.CASSANDRA_WRITER, secured.passwords)
    refusal = _cassandra_refusal(writer, statement)
    assert isinstance(refusal, Unauthorized), repr(refusal)


def test_the_default_superuser_cannot_log_in(secured: SecuredRuntime) -> None:
    node = replace(secured.settings.cassandra_connection(), username="cassandra", password="cassandra")
    assert isinstance(_cassandra_refusal(node), AuthenticationFailed)


def test_the_certificates_are_the_pipelines_own(secured: SecuredRuntime) -> None:
    assert (security.tls_dir(secured.settings) / pki.CA_CERT).is_file()
