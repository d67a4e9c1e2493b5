"""The one Kafka connection builder: what every client gets, plaintext and SASL_SSL."""

from __future__ import annotations

import pickle

import pytest

from services.configuration import ConfigError
from services.kafka_options import KafkaClientSettings, KafkaConnection

SECURED = KafkaConnection("127.0.0.1:9092", "SASL_SSL", "producer", "s3cret-pw", "/pki/ca.crt")


def test_plaintext_clients_get_only_the_brokers() -> None:
    plain = KafkaConnection("b1:9092,b2:9092")
    assert plain.client_options() == {"bootstrap.servers": "b1:9092,b2:9092"}
    assert plain.spark_source_options() == {"kafka.bootstrap.servers": "b1:9092,b2:9092"}
    assert plain.java_client_properties() == "bootstrap.servers=b1:9092,b2:9092\n"


def test_secured_librdkafka_clients_use_scram_over_tls_verified_against_the_ca() -> None:
    assert SECURED.client_options({"acks": "all"}) == {
        "bootstrap.servers": "127.0.0.1:9092",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "producer",
        "sasl.password": "s3cret-pw",
        "ssl.ca.location": "/pki/ca.crt",
        "ssl.endpoint.identification.algorithm": "https",
        "acks": "all",
    }


def test_secured_spark_source_and_java_tools_get_the_same_connection_in_their_dialect() -> None:
    options = SECURED.spark_source_options()
    assert options["kafka.security.protocol"] == "SASL_SSL"
    assert options["kafka.sasl.mechanism"] == "SCRAM-SHA-512"
    assert options["kafka.sasl.jaas.config"] == (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        'username="producer" password="s3cret-pw";'
    )
    assert (options["kafka.ssl.truststore.type"], options["kafka.ssl.truststore.location"]) == (
        "PEM",
        "/pki/ca.crt",
    )
    properties = dict(line.split("=", 1) for line in SECURED.java_client_properties().splitlines())
    assert {f"kafka.{key}": value for key, value in properties.items()} == options


def test_the_password_is_not_in_the_connections_repr_and_it_pickles_for_spark() -> None:
    assert "s3cret-pw" not in repr(SECURED)
    assert pickle.loads(pickle.dumps(SECURED)) == SECURED


@pytest.mark.parametrize("missing", ["username", "password", "ca_location"])
def test_a_secured_connection_without_credentials_or_ca_is_refused(missing: str) -> None:
    values = {"username": "u", "password": "p", "ca_location": "/ca.crt", missing: None}
    with pytest.raises(ValueError, match=missing):
        KafkaConnection("127.0.0.1:9092", "SASL_SSL", **values)  # type: ignore[arg-type]


def test_a_quote_in_the_password_is_refused_rather_than_breaking_the_jaas_line() -> None:
    with pytest.raises(ValueError, match="password must not contain"):
        KafkaConnection("h:1", "SASL_SSL", "u", 'pa"ss', "/ca.crt")


def test_settings_read_the_password_from_the_secrets_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    (folder / "kafka_sasl_password").write_text("from-a-file\n")
    monkeypatch.setenv("PIPELINE_SECRETS_DIR", str(folder))
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "spark")
    monkeypatch.setenv("KAFKA_SSL_CA_LOCATION", "/pki/ca.crt")

    connection = KafkaClientSettings.load().kafka_connection()

    assert (connection.username, connection.password) == ("spark", "from-a-file")


def test_a_secured_setting_without_its_password_stops_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIPELINE_SECRETS_DIR", raising=False)
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "spark")
    monkeypatch.setenv("KAFKA_SSL_CA_LOCATION", "/pki/ca.crt")
    with pytest.raises(ConfigError, match="needs password") as caught:
        KafkaClientSettings.load()
    assert "\n" not in str(caught.value)


def test_an_error_line_never_shows_a_secret_read_from_a_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    (folder / "kafka_sasl_password").write_text('bad"secret')
    monkeypatch.setenv("PIPELINE_SECRETS_DIR", str(folder))
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "spark")
    monkeypatch.setenv("KAFKA_SSL_CA_LOCATION", "/pki/ca.crt")
    with pytest.raises(ConfigError) as caught:
        KafkaClientSettings.load()
    assert 'bad"secret' not in str(caught.value)


@pytest.mark.parametrize("connection", [KafkaConnection("b:1"), SECURED], ids=["plaintext", "secured"])
def test_a_connection_given_as_settings_reads_back_as_the_same_connection(
    monkeypatch: pytest.MonkeyPatch, connection: KafkaConnection
) -> None:
    monkeypatch.delenv("PIPELINE_SECRETS_DIR", raising=False)
    for name, value in connection.as_settings().items():
        monkeypatch.setenv(name.upper(), value)
    assert KafkaClientSettings.load().kafka_connection() == connection
