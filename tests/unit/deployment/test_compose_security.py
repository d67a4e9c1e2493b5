"""docker-compose is secured as the local runtime with ENABLE_SSL=true: held against the runtime's own
code (stack.security, stack.kafka_security, stack.cassandra_security, finnhub_pipeline.connections) and the
settings classes, without Docker. The secrets are generated once per module by
deploy/docker/compose_security.py into a temporary folder, as `make compose-secrets` does under
deploy/docker/secrets/.
"""

from __future__ import annotations

import importlib.util
import re
import socket
import ssl
import stat
import sys
import threading
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any, ClassVar

import pytest
import yaml

from finnhub_pipeline import connections, variables
from jobs.spark_stream.settings import StreamSettings
from services import contracts
from services.cassandra_session import CassandraConnection
from services.configuration import SECRETS_DIR_VARIABLE
from services.kafka_options import KafkaConnection
from services.producer.settings import ProducerSettings
from stack import cassandra_security, kafka_security, pki, security
from stack.credentials import (
    CASSANDRA_ADMIN,
    CASSANDRA_READER,
    CASSANDRA_WRITER,
    KAFKA_ADMIN,
    KAFKA_PRODUCER,
    KAFKA_SPARK,
)

ROOT = Path(__file__).resolve().parents[3]
DOCKER = ROOT / "deploy" / "docker"
COMPOSE_TEXT = (ROOT / "docker-compose.yaml").read_text()
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
SECRET_FILE_PREFIX = "./deploy/docker/secrets/compose/"
ENVIRONMENT_SECRETS = {"slack_webhook_url"}
"""Compose secrets taken from .env rather than from a generated file."""


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


compose_security = _load("compose_security", DOCKER / "compose_security.py")
cql_ready = _load("cql_ready", DOCKER / "cassandra" / "cql_ready.py")
CA = f"/run/secrets/{compose_security.CA}"


@pytest.fixture(scope="module")
def secrets_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `make compose-secrets` writes, in a temporary folder (no password from the environment)."""
    folder = tmp_path_factory.mktemp("compose") / "secrets"
    compose_security.write_secrets(folder, environ={})
    return folder


@pytest.fixture(scope="module")
def mounted(secrets_dir: Path) -> Path:
    """The folder compose mounts from: it stands for /run/secrets in the containers."""
    return secrets_dir / compose_security.MOUNTED


def mounted_paths(mounted: Path) -> set[str]:
    return {str(p.relative_to(mounted)) for p in mounted.rglob("*") if p.is_file()}


def service_secrets(name: str) -> dict[str, str]:
    """source -> target of a service's secrets (short syntax: /run/secrets/<source>)."""
    found = {}
    for entry in SERVICES[name].get("secrets", []):
        if isinstance(entry, str):
            found[entry] = f"/run/secrets/{entry}"
        else:
            found[entry["source"]] = entry.get("target", f"/run/secrets/{entry['source']}")
    return found


def mounted_targets(name: str) -> set[str]:
    return set(service_secrets(name).values())


def read(mounted: Path, target: str) -> str:
    """A mounted file by its path in the containers."""
    return (mounted / PurePosixPath(target).relative_to("/run/secrets")).read_text()


def properties(text: str) -> dict[str, str]:
    pairs = [line.split("=", 1) for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return {key.strip(): value.strip() for key, value in pairs}


def kafka_server_properties() -> dict[str, str]:
    return properties((DOCKER / "kafka" / "server.properties").read_text())


def passwords(mounted: Path) -> dict[str, str]:
    return compose_security.read_passwords(mounted / "passwords", compose_security.INIT_PRINCIPALS)


# --- the secrets and where they are mounted ---------------------------------------------------------------
def test_every_secret_a_service_mounts_is_defined_and_every_defined_one_is_mounted() -> None:
    defined = set(COMPOSE["secrets"])
    used = {source for name in SERVICES for source in service_secrets(name)}

    assert used - defined == set()
    assert defined - used == set()


def test_compose_secrets_are_exactly_the_files_make_compose_secrets_writes(mounted: Path) -> None:
    files = {
        name: definition["file"].removeprefix(SECRET_FILE_PREFIX)
        for name, definition in COMPOSE["secrets"].items()
        if name not in ENVIRONMENT_SECRETS
    }

    assert all(COMPOSE["secrets"][name]["file"].startswith(SECRET_FILE_PREFIX) for name in files), (
        "every generated secret is a file under deploy/docker/secrets/compose/"
    )
    assert set(files.values()) == mounted_paths(mounted)
    assert all(name == compose_security.secret_name(PurePosixPath(path)) for name, path in files.items())


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_service_mounts_a_secret_at_run_secrets_under_its_path(name: str) -> None:
    for source, target in service_secrets(name).items():
        if source in ENVIRONMENT_SECRETS:
            continue
        path = COMPOSE["secrets"][source]["file"].removeprefix(SECRET_FILE_PREFIX)
        assert target == f"/run/secrets/{path}", f"{name}: {source}"


def test_compose_file_holds_no_password_key_or_certificate(mounted: Path) -> None:
    secret_values = list(passwords(mounted).values())
    secret_values += [read(mounted, f"/run/secrets/{p}") for p in ("tls/ca.crt", "tls/kafka-keystore.pem")]

    assert "-----BEGIN" not in COMPOSE_TEXT
    assert not re.search(r"sasl\.(jaas\.config|password)|--add-scram|SCRAM-SHA-512=\[", COMPOSE_TEXT)
    assert not [value for value in secret_values if value.strip() in COMPOSE_TEXT]
    for service in SERVICES.values():
        # Connections with a login come from the mounted file, not from AIRFLOW_CONN_* JSON.
        for key, value in service.get("environment", {}).items():
            if key.startswith("AIRFLOW_CONN_"):
                assert '"password"' not in value and '"login"' not in value, key


def test_secrets_stay_out_of_git_and_out_of_every_image() -> None:
    copied = []
    for dockerfile in DOCKER.glob("*.Dockerfile"):
        for line in dockerfile.read_text().replace("\\\n", " ").splitlines():
            if re.match(r"^(COPY|ADD)\s", line) and "--from=" not in line:
                copied += [part for part in line.split()[1:] if not part.startswith("--")][:-1]

    assert copied and "." not in copied and "./" not in copied
    # Neither the secrets folder nor a folder holding it.
    assert not [
        source
        for source in copied
        if source.startswith("deploy/docker/secrets")
        or "deploy/docker/secrets/".startswith(source.rstrip("/") + "/")
    ]
    assert "/deploy/docker/secrets/" in (ROOT / ".gitignore").read_text().splitlines()


def test_generated_files_are_kept_private_by_their_folder_and_kept_on_a_second_run(
    secrets_dir: Path, mounted: Path
) -> None:
    before = passwords(mounted), read(mounted, CA)

    compose_security.write_secrets(secrets_dir, environ={})

    assert stat.S_IMODE(secrets_dir.stat().st_mode) == 0o700
    for path in mounted.rglob("*"):
        if path.is_file():
            # Readable by the containers' own users (Docker ignores a file secret's mode outside swarm).
            assert stat.S_IMODE(path.stat().st_mode) == 0o444, path
    assert stat.S_IMODE(pki.KAFKA.keystore(secrets_dir / "tls").stat().st_mode) == 0o600
    assert (passwords(mounted), read(mounted, CA)) == before


def test_certificates_name_every_address_the_clients_use(secrets_dir: Path) -> None:
    from cryptography import x509

    for server in pki.SERVERS:
        certificate = x509.load_pem_x509_certificate(server.certificate(secrets_dir / "tls").read_bytes())
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        present = {str(n) for n in names.get_values_for_type(x509.DNSName)}
        present |= {str(a) for a in names.get_values_for_type(x509.IPAddress)}
        assert {"kafka", "cassandra", "localhost", "127.0.0.1"} <= present


def test_certificates_without_compose_names_stop_make_compose_secrets_naming_the_file(tmp_path: Path) -> None:
    pki.ensure(tmp_path / "secrets" / "tls")  # the local runtime's: 127.0.0.1-3 and localhost only

    with pytest.raises(
        compose_security.ComposeSecurityError, match=r"kafka\.crt: does not name kafka, cassandra"
    ):
        compose_security.write_secrets(tmp_path / "secrets", environ={})
    assert not (tmp_path / "secrets" / compose_security.MOUNTED).exists()


def test_a_missing_secret_stops_the_one_shot_step_with_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(compose_security, "RUN_SECRETS", PurePosixPath(tmp_path))

    status = compose_security.main(["grants"])

    (line,) = capsys.readouterr().err.splitlines()
    assert status == 1
    assert line.startswith(f"compose-security grants: {tmp_path / 'passwords' / 'cassandra_admin'}: ")


# --- Kafka ------------------------------------------------------------------------------------------------
def test_kafka_has_no_plaintext_listener_and_the_controller_requires_the_brokers_certificate() -> None:
    config = kafka_server_properties()
    protocols = dict(item.split(":") for item in config["listener.security.protocol.map"].split(","))
    listeners = [item.split("://")[0] for item in config["listeners"].split(",")]

    assert set(listeners) == set(protocols)
    assert set(protocols.values()) <= {"SSL", "SASL_SSL"}
    assert protocols[config["controller.listener.names"]] == "SSL"
    assert config["listener.name.controller.ssl.client.auth"] == "required"
    assert protocols[config["inter.broker.listener.name"]] == "SASL_SSL"
    assert "PLAINTEXT" not in yaml.safe_dump(SERVICES["kafka"])


def test_kafka_security_lines_are_the_ones_the_local_runtime_renders(mounted: Path) -> None:
    rendered = security.template_values(
        compose_security.ComposeNode(), passwords(mounted) | {"kafka_broker": "x"}
    )
    local = properties(rendered["KAFKA_SECURITY"])
    jaas = {key for key in local if key.endswith(".sasl.jaas.config")}
    config = kafka_server_properties()

    assert {key: config.get(key) for key in local.keys() - jaas} == {
        key: local[key] for key in local.keys() - jaas
    }
    assert local["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert config["super.users"].split(";") == [
        f"User:CN={pki.KAFKA.common_name}",
        "User:broker",
        f"User:{KAFKA_ADMIN.username}",
    ]


def test_every_sasl_listener_gets_the_brokers_login_from_a_secret(mounted: Path) -> None:
    config = kafka_server_properties()
    sasl_listeners = {
        name.lower()
        for name, protocol in (
            item.split(":") for item in config["listener.security.protocol.map"].split(",")
        )
        if protocol == "SASL_SSL"
    }
    logins = properties(read(mounted, "/run/secrets/kafka/listener-jaas.properties"))

    assert set(logins) == {f"listener.name.{name}.scram-sha-512.sasl.jaas.config" for name in sasl_listeners}
    assert all('username="broker"' in login for login in logins.values())
    assert not [key for key in config if key.endswith("sasl.jaas.config")], "no password in the image's file"


def test_kafka_starts_from_its_config_and_formats_with_the_broker_and_admin_scram_users(
    mounted: Path,
) -> None:
    start = (DOCKER / "kafka" / "start.sh").read_text()
    dockerfile = (DOCKER / "kafka.Dockerfile").read_text()
    arguments = read(mounted, "/run/secrets/kafka/format.args").split()
    scram_users = [re.search(r"name=([^,]+)", a)[1] for a in arguments if a.startswith("SCRAM-SHA-512=")]  # type: ignore[index]

    assert 'CMD ["/etc/kafka/pipeline/start.sh"]' in dockerfile
    assert "deploy/docker/kafka/server.properties /etc/kafka/pipeline/server.properties" in dockerfile
    assert arguments[:2] == ["kafka.tools.StorageTool", "format"]
    assert arguments[arguments.index("-c") + 1] == str(compose_security.KAFKA_CONFIG)
    assert f"config={compose_security.KAFKA_CONFIG}" in start
    assert scram_users == [p.username for p in kafka_security.FORMATTED_USERS]
    for path in ("listener-jaas.properties", "format.args"):
        assert f"$secrets/{path}" in start and f"/run/secrets/kafka/{path}" in mounted_targets("kafka")
    assert "/dev/null" in start.split("format.args")[1].splitlines()[0], "the format tool's output is dropped"


def test_kafka_healthcheck_logs_in_as_admin_over_tls(mounted: Path) -> None:
    check = " ".join(SERVICES["kafka"]["healthcheck"]["test"])
    config_path = re.search(r"--command-config (\S+)", check)[1]  # type: ignore[index]
    client = properties(read(mounted, config_path))

    assert config_path in mounted_targets("kafka")
    assert client["security.protocol"] == "SASL_SSL"
    assert f'username="{KAFKA_ADMIN.username}"' in client["sasl.jaas.config"]
    assert client["ssl.truststore.location"] == CA
    assert {config_path, CA, "/run/secrets/tls/kafka-keystore.pem"} <= mounted_targets("kafka")


# --- Cassandra --------------------------------------------------------------------------------------------
def test_cassandra_security_is_the_local_runtimes(mounted: Path) -> None:
    rendered = security.template_values(
        compose_security.ComposeNode(), passwords(mounted) | {"kafka_broker": "x"}
    )
    compose_config = yaml.safe_load((DOCKER / "cassandra" / "security.yaml").read_text())
    dockerfile = (DOCKER / "cassandra.Dockerfile").read_text()

    assert compose_config == {
        "authenticator": rendered["CASSANDRA_AUTHENTICATOR"],
        "authorizer": rendered["CASSANDRA_AUTHORIZER"],
        "client_encryption_options": yaml.safe_load(rendered["CASSANDRA_CLIENT_ENCRYPTION"]),
    }
    assert compose_config["authenticator"] == "PasswordAuthenticator"
    assert compose_config["client_encryption_options"]["optional"] is False
    options = compose_config["client_encryption_options"]
    assert {options["keystore"], options["truststore"]} <= mounted_targets("cassandra")
    assert "cat /tmp/security.yaml >> /etc/cassandra/cassandra.yaml" in dockerfile


def test_every_cassandra_client_verifies_the_name_the_certificate_carries_not_the_address(
    mounted: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """cassandra-driver resolves `cassandra` to the container's address, which Docker changes: the clients
    check the service name instead (tls_server_name), which the certificate carries."""
    monkeypatch.chdir(tmp_path)  # no .env
    for name in ("CASSANDRA_HOSTS", "CASSANDRA_SSL_SERVER_NAME"):
        monkeypatch.setenv(name, SERVICES["airflow-scheduler"]["environment"][name])
    spark = StreamSettings.load().cassandra_connection()
    airflow = compose_security.airflow_connections(passwords(mounted))[connections.CASSANDRA_CONN_ID]

    assert spark.tls_server_name == airflow["extra"]["tls_server_name"] == "cassandra"
    assert compose_security.cassandra_connection(None, {}).tls_server_name == "cassandra"
    assert "networks" not in SERVICES["cassandra"], "no fixed address is needed"


def test_cassandra_healthcheck_needs_no_login_and_trusts_the_mounted_ca() -> None:
    assert SERVICES["cassandra"]["healthcheck"]["test"] == ["CMD", "python3", "/usr/local/bin/cql-ready"]
    assert (
        "deploy/docker/cassandra/cql_ready.py /usr/local/bin/cql-ready"
        in (DOCKER / "cassandra.Dockerfile").read_text()
    )
    assert cql_ready.CA in mounted_targets("cassandra")


@pytest.fixture
def cql_server(secrets_dir: Path) -> Iterator[tuple[str, int]]:
    """A TLS server with Cassandra's generated certificate that answers a CQL OPTIONS frame with SUPPORTED."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.CASSANDRA.keystore(secrets_dir / "tls"))
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                raw, _ = listener.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(raw, server_side=True) as tls:
                    if tls.recv(9)[4] == 0x05:
                        tls.sendall(bytes([0x84, 0, 0, 0, 0x06, 0, 0, 0, 0]))
            except (OSError, IndexError):
                pass

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()
    listener.close()


def test_cql_ready_passes_when_the_node_answers_over_tls_it_verifies(
    cql_server: tuple[str, int], mounted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cql_ready, "CA", str(mounted / compose_security.CA))
    monkeypatch.setattr(cql_ready, "ADDRESS", cql_server)

    assert cql_ready.answers()


def test_cql_ready_fails_against_a_node_whose_certificate_the_ca_did_not_sign(
    cql_server: tuple[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pki.ensure(tmp_path / "other")
    monkeypatch.setattr(cql_ready, "CA", str(tmp_path / "other" / pki.CA_CERT))
    monkeypatch.setattr(cql_ready, "ADDRESS", cql_server)

    with pytest.raises(ssl.SSLCertVerificationError):
        cql_ready.answers()


# --- the one-shot set-up: users, ACLs, roles and grants of the local runtime --------------------------------
class FakeFuture:
    def result(self) -> None:
        return None


class FakeAdminClient:
    """Records what stack.kafka_security asks of confluent-kafka's AdminClient."""

    calls: ClassVar[list[tuple[str, Any]]] = []

    def __init__(self, options: dict[str, Any]) -> None:
        self.calls.append(("options", options))

    def alter_user_scram_credentials(
        self, upserts: list[Any], request_timeout: float
    ) -> dict[str, FakeFuture]:
        self.calls.append(("users", {u.user: u.password.decode() for u in upserts}))
        return {u.user: FakeFuture() for u in upserts}

    def create_acls(self, bindings: list[Any], request_timeout: float) -> dict[Any, FakeFuture]:
        self.calls.append(("acls", list(bindings)))
        return {b: FakeFuture() for b in bindings}


def test_security_init_creates_the_local_runtimes_kafka_users_acls_and_cassandra_roles(
    mounted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    FakeAdminClient.calls = []
    roles: list[tuple[CassandraConnection, dict[str, str]]] = []
    monkeypatch.setattr(kafka_security, "AdminClient", FakeAdminClient)
    monkeypatch.setattr(cassandra_security, "ensure_roles", lambda node, pw: roles.append((node, dict(pw))))
    expected = passwords(mounted)

    compose_security.set_up_engines(mounted)

    options = [value for kind, value in FakeAdminClient.calls if kind == "options"]
    users = next(value for kind, value in FakeAdminClient.calls if kind == "users")
    acls = next(value for kind, value in FakeAdminClient.calls if kind == "acls")
    assert all(
        o["bootstrap.servers"] == "kafka:9092"
        and o["sasl.username"] == KAFKA_ADMIN.username
        and o["sasl.password"] == expected[KAFKA_ADMIN.key]
        and o["ssl.ca.location"] == CA
        for o in options
    )
    assert users == {p.username: expected[p.key] for p in (KAFKA_PRODUCER, KAFKA_SPARK)}
    assert sorted(map(str, acls)) == sorted(map(str, kafka_security.pipeline_acls()))
    ((node, given),) = roles
    assert node == CassandraConnection(hosts=("cassandra",), ca_certs=CA, tls_server_name="cassandra")
    assert {given[p.key] for p in (CASSANDRA_ADMIN, CASSANDRA_WRITER, CASSANDRA_READER)} == {
        expected[p.key] for p in (CASSANDRA_ADMIN, CASSANDRA_WRITER, CASSANDRA_READER)
    }


class FakeSession:
    def __init__(self, connection: CassandraConnection, statements: list[str]) -> None:
        self.connection, self.statements = connection, statements
        self.cluster = self

    def execute(self, statement: str) -> None:
        self.statements.append(statement)

    def shutdown(self) -> None:
        return None


def test_bootstrap_grants_exactly_the_local_runtimes_grants_as_pipeline_admin(
    mounted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    statements: list[str] = []
    sessions: list[FakeSession] = []

    def session(connection: CassandraConnection) -> FakeSession:
        sessions.append(FakeSession(connection, statements))
        return sessions[-1]

    monkeypatch.setattr(cassandra_security, "cassandra_session", session)

    compose_security.grant(mounted)

    assert statements == [
        f"GRANT {permission} ON KEYSPACE {contracts.KEYSPACE} TO {principal.username}"
        for principal, permissions in cassandra_security.GRANTS.items()
        for permission in permissions
    ]
    ((login),) = [(s.connection.username, s.connection.password, s.connection.ca_certs) for s in sessions]
    assert login == (CASSANDRA_ADMIN.username, passwords(mounted)[CASSANDRA_ADMIN.key], CA)


def test_the_one_shot_services_run_each_step_with_the_passwords_it_reads() -> None:
    init, bootstrap = SERVICES["security-init"], SERVICES["pipeline-bootstrap"]
    steps = bootstrap["command"][0].split("&&")
    script = "/opt/pipeline/deploy/docker/compose_security.py"

    assert init["entrypoint"] == ["python", script] and init["command"] == ["engines"]
    assert {f"/run/secrets/passwords/{p.key}" for p in compose_security.INIT_PRINCIPALS} <= mounted_targets(
        "security-init"
    )
    # Then the stream and the maintenance DAGs are unpaused (test_manifests holds that list).
    assert [s.strip() for s in steps][1:4] == [
        "airflow dags test pipeline_bootstrap",
        f"python {script} grants",
        "airflow dags unpause stream_supervisor",
    ]
    assert f"/run/secrets/passwords/{CASSANDRA_ADMIN.key}" in mounted_targets("pipeline-bootstrap")
    assert bootstrap["depends_on"]["security-init"]["condition"] == "service_completed_successfully"
    assert {"kafka", "cassandra"} == {
        name for name, c in init["depends_on"].items() if c["condition"] == "service_healthy"
    }
    assert (
        f"COPY --chown=airflow:root deploy/docker/compose_security.py {script}"
        in (DOCKER / "airflow.Dockerfile").read_text()
    )


# --- Airflow, the producer and the Spark job ----------------------------------------------------------------
AIRFLOW_SERVICES = [name for name, s in SERVICES.items() if s["image"].startswith("finnhub-pipeline/airflow")]


def test_airflow_reads_kafka_and_cassandra_connections_the_shared_builders_made(mounted: Path) -> None:
    if "airflow" not in sys.modules:
        from tests.airflow_setup import configure_airflow

        configure_airflow()
    from airflow.secrets.local_filesystem import LocalFilesystemBackend

    environment = SERVICES["airflow-scheduler"]["environment"]
    path = yaml.safe_load(environment["AIRFLOW__SECRETS__BACKEND_KWARGS"])["connections_file_path"]
    backend = LocalFilesystemBackend(
        connections_file_path=str(mounted / PurePosixPath(path).relative_to("/run/secrets"))
    )
    expected = passwords(mounted)
    kafka = backend.get_connection(connections.KAFKA_CONN_ID)
    cassandra = backend.get_connection(connections.CASSANDRA_CONN_ID)

    assert (
        environment["AIRFLOW__SECRETS__BACKEND"] == "airflow.secrets.local_filesystem.LocalFilesystemBackend"
    )
    assert kafka is not None and cassandra is not None
    assert (
        kafka.extra_dejson
        == KafkaConnection(
            "kafka:9092", "SASL_SSL", KAFKA_ADMIN.username, expected[KAFKA_ADMIN.key], CA
        ).client_options()
    )
    assert connections.cassandra_connection(cassandra) == CassandraConnection(
        hosts=("cassandra",),
        username=CASSANDRA_ADMIN.username,
        password=expected[CASSANDRA_ADMIN.key],
        ca_certs=CA,
        tls_server_name="cassandra",
    )
    for name in AIRFLOW_SERVICES:
        if name != "security-init":  # it reads no Airflow connection
            assert path in mounted_targets(name), name
        assert not {"AIRFLOW_CONN_KAFKA_DEFAULT", "AIRFLOW_CONN_CASSANDRA_DEFAULT"} & set(
            SERVICES[name]["environment"]
        ), "a second source of the connections"


def _folder_in_container(service: str, folder: str) -> set[str]:
    return {
        PurePosixPath(t).name
        for t in mounted_targets(service)
        if PurePosixPath(t).parent == PurePosixPath(folder)
    }


def test_the_producer_reads_its_principal_from_its_mounted_folder(
    mounted: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = SERVICES["finnhub-producer"]["environment"]
    folder = environment[SECRETS_DIR_VARIABLE]
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv(SECRETS_DIR_VARIABLE, str(mounted / PurePosixPath(folder).relative_to("/run/secrets")))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", environment["KAFKA_BOOTSTRAP_SERVERS"])

    settings = ProducerSettings.load()

    assert _folder_in_container("finnhub-producer", folder) == set(
        compose_security.program_settings(passwords(mounted))["producer"]
    )
    assert _folder_in_container("finnhub-producer", folder) <= set(ProducerSettings.model_fields)
    assert settings.kafka_connection() == KafkaConnection(
        "kafka:9092", "SASL_SSL", KAFKA_PRODUCER.username, passwords(mounted)[KAFKA_PRODUCER.key], CA
    )
    assert CA in mounted_targets("finnhub-producer")


def test_the_spark_job_reads_its_principals_from_the_folder_mounted_where_its_driver_runs(
    mounted: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = SERVICES["airflow-scheduler"]["environment"]
    folder = environment[variables.SPARK_SECRETS_DIR.environment_variable]
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv(SECRETS_DIR_VARIABLE, str(mounted / PurePosixPath(folder).relative_to("/run/secrets")))
    for name in StreamSettings.environment_variables().values():
        if name in environment:
            monkeypatch.setenv(name, str(environment[name]))
    expected = passwords(mounted)

    settings = StreamSettings.load()

    assert _folder_in_container("airflow-scheduler", folder) == set(
        compose_security.program_settings(expected)["spark"]
    )
    assert _folder_in_container("airflow-scheduler", folder) <= set(StreamSettings.model_fields)
    assert settings.kafka_connection() == KafkaConnection(
        "kafka:9092", "SASL_SSL", KAFKA_SPARK.username, expected[KAFKA_SPARK.key], CA
    )
    assert settings.cassandra_connection() == CassandraConnection(
        hosts=("cassandra",),
        username=CASSANDRA_WRITER.username,
        password=expected[CASSANDRA_WRITER.key],
        ca_certs=CA,
        tls_server_name="cassandra",
    )
    # The executors open the CA at the path the driver gives them.
    assert CA in mounted_targets("spark-worker") and CA in mounted_targets("airflow-scheduler")


def test_airflow_environment_names_are_read_by_airflow_or_the_settings_of_what_runs_there() -> None:
    stream = set(StreamSettings.environment_variables().values())
    bootstrap = {"KAFKA_REPLICATION_FACTOR", "CASSANDRA_REPLICATION_FACTOR"}  # read by the bootstrap DAG
    for name in AIRFLOW_SERVICES:
        own = {key for key in SERVICES[name]["environment"] if not key.startswith("AIRFLOW")}
        assert own - stream - bootstrap == set(), name
    airflow_variables = {v.environment_variable for v in variables.ALL}
    scheduler = SERVICES["airflow-scheduler"]["environment"]
    assert {key for key in scheduler if key.startswith("AIRFLOW_VAR_")} <= airflow_variables
