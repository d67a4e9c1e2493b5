"""What ENABLE_SSL renders and writes for the clients (pure files; the live stack is integration)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from services.configuration import ConfigError
from stack import credentials, security


def runtime(tmp_path: Path, enable_ssl: bool) -> SimpleNamespace:
    return SimpleNamespace(
        var_dir=tmp_path / "var",
        enable_ssl=enable_ssl,
        tls_dir=None,
        kafka_bootstrap="127.0.0.1:9092",
        kafka_port=9092,
        kafka_controller_port=9097,
        cassandra_host="127.0.0.1",
        cassandra_port=9042,
    )


@pytest.mark.parametrize("value", ["yes", "1", "on", "TRUE!", ""])
def test_enable_ssl_takes_only_true_or_false(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("ENABLE_SSL", value)
    if value == "":
        assert security.SecuritySettings.load().enable_ssl is False  # empty means the default
        return
    with pytest.raises(ConfigError, match="ENABLE_SSL: must be true or false"):
        security.SecuritySettings.load()


def test_plaintext_mode_leaves_kafka_and_cassandra_open_on_loopback_and_clients_without_secrets(
    tmp_path: Path,
) -> None:
    settings = runtime(tmp_path, enable_ssl=False)
    assert security.preflight(settings) is None
    values = security.template_values(settings, None)
    assert values["KAFKA_LISTENERS"] == "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9097"
    assert values["CASSANDRA_AUTHENTICATOR"] == "AllowAllAuthenticator"
    security.write_client_files(settings, None)
    assert list(security.secret_folder(settings, "spark").iterdir()) == []


def test_the_secrets_folder_is_private_even_when_it_was_created_open(tmp_path: Path) -> None:
    settings = runtime(tmp_path, enable_ssl=False)
    security.secrets_dir(settings).mkdir(mode=0o755, parents=True)  # e.g. by an older version
    security.secrets_dir(settings).chmod(0o755)
    security.write_client_files(settings, None)
    assert security.secrets_dir(settings).stat().st_mode & 0o077 == 0


def test_secured_mode_leaves_no_plaintext_listener_and_requires_client_tls(tmp_path: Path) -> None:
    settings = runtime(tmp_path, enable_ssl=True)
    passwords = security.preflight(settings)
    assert passwords is not None
    values = security.template_values(settings, passwords)
    assert "PLAINTEXT" not in values["KAFKA_LISTENERS"] + values["KAFKA_LISTENER_PROTOCOLS"]
    assert values["KAFKA_LISTENER_PROTOCOLS"] == "CONTROLLER:SSL,SASL_SSL:SASL_SSL"
    assert "allow.everyone.if.no.acl.found=false" in values["KAFKA_SECURITY"]
    assert "User:CN=kafka-broker" in values["KAFKA_SECURITY"]
    assert values["CASSANDRA_AUTHENTICATOR"] == "PasswordAuthenticator"
    assert "optional: false" in values["CASSANDRA_CLIENT_ENCRYPTION"]


def test_secured_clients_get_their_own_principal_in_private_files(tmp_path: Path) -> None:
    settings = runtime(tmp_path, enable_ssl=True)
    passwords = security.preflight(settings)
    assert passwords is not None
    security.write_client_files(settings, passwords)

    spark = security.secret_folder(settings, "spark")
    assert (spark / "kafka_sasl_username").read_text() == "spark"
    assert (spark / "kafka_sasl_password").read_text() == passwords[credentials.KAFKA_SPARK.key]
    assert (spark / "cassandra_username").read_text() == "pipeline_writer"
    producer = security.secret_folder(settings, "producer")
    assert (producer / "kafka_sasl_username").read_text() == "producer"
    assert not (producer / "cassandra_password").exists()
    secret_files = [*spark.iterdir(), *producer.iterdir(), security.kafka_admin_properties(settings)]
    assert all(path is not None and path.stat().st_mode & 0o077 == 0 for path in secret_files)

    security.write_client_files(runtime(tmp_path, enable_ssl=False), None)  # switched back
    assert list(spark.iterdir()) == [] and not (tmp_path / "var/run/tools/kafka-admin.properties").exists()
