"""docker-compose's security, with the local runtime's own code (stack.pki, stack.credentials, stack.security,
stack.kafka_security, stack.cassandra_security) and one layout for its two halves:

    secrets   on the host (`make compose-secrets`: python deploy/docker/compose_security.py secrets): the CA,
              the engines' certificates, every password, and the files compose mounts
    engines   in the one-shot `security-init` service: the producer's and the Spark job's Kafka users and
              ACLs, Cassandra's roles
    grants    in `pipeline-bootstrap`, once the keyspace exists: the writer's and reader's grants

Every file compose mounts lives under deploy/docker/secrets/compose/<path> (git-ignored, never in an image)
and is mounted at /run/secrets/<path> as the compose secret `secret_name(<path>)`.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Final

from cryptography import x509

from finnhub_pipeline import connections
from services.cassandra_session import CassandraConnection
from services.kafka_options import KafkaConnection
from stack import cassandra_security, credentials, kafka_security, pki, security
from stack.credentials import (
    CASSANDRA_ADMIN,
    CASSANDRA_WRITER,
    KAFKA_ADMIN,
    KAFKA_BROKER,
    KAFKA_PRODUCER,
    KAFKA_SPARK,
    Principal,
)

ROOT: Final = Path(__file__).resolve().parents[2]
SECRETS_DIR: Final = ROOT / "deploy" / "docker" / "secrets"
"""On the host, 0700: `tls/` (stack.pki's CA and certificates), `passwords.json` (stack.credentials'),
`kafka-cluster-id`, and `compose/`, the files compose mounts."""
MOUNTED: Final = "compose"
RUN_SECRETS: Final = PurePosixPath("/run/secrets")

# Where the engines are on compose's network, and the names their certificates must carry.
KAFKA_BOOTSTRAP: Final = "kafka:9092"
KAFKA_HEALTH_BOOTSTRAP: Final = "localhost:9092"
CASSANDRA_HOST: Final = "cassandra"
"""Also the name Cassandra's clients verify (tls_server_name): the driver would otherwise check the address it
resolved the name to, which Docker assigns anew."""
SERVER_NAMES: Final = ("kafka", CASSANDRA_HOST, "localhost", "127.0.0.1")
"""In both engines' certificates: compose's host names, and the host's for the published ports."""
KAFKA_CONFIG: Final = PurePosixPath("/opt/kafka/config/server.properties")
"""Where deploy/docker/kafka/start.sh renders the broker's configuration, which storage is formatted with."""

# What compose mounts, relative to compose/ on the host and to /run/secrets in the containers.
TLS: Final = PurePosixPath("tls")
CA: Final = TLS / pki.CA_CERT
KAFKA_KEYSTORE: Final = TLS / pki.KAFKA.keystore(Path()).name
CASSANDRA_KEYSTORE: Final = TLS / pki.CASSANDRA.keystore(Path()).name
KAFKA_LISTENER_LOGIN: Final = PurePosixPath("kafka/listener-jaas.properties")
KAFKA_FORMAT_ARGUMENTS: Final = PurePosixPath("kafka/format.args")
KAFKA_ADMIN_CLIENT: Final = PurePosixPath("kafka/admin.properties")
AIRFLOW_CONNECTIONS: Final = PurePosixPath("airflow/connections.json")
PASSWORDS: Final = PurePosixPath("passwords")
INIT_PRINCIPALS: Final = tuple(p for p in credentials.PRINCIPALS if p is not KAFKA_BROKER)
"""Whose passwords the one-shot set-up reads; the broker's reaches only the broker, inside its own files."""
LISTENERS_WITH_LOGIN: Final = ("sasl_ssl", "external")
"""deploy/docker/kafka/server.properties' SASL_SSL listeners: in-network clients and the host's tools."""


class ComposeSecurityError(Exception):
    """A secret is missing or unusable; the message names the file."""


_CONTAINER_TLS: Final = Path(str(RUN_SECRETS / TLS))
_NO_VAR_DIR: Final = Path("/nonexistent")


@dataclass(frozen=True)
class ComposeNode:
    """The compose engines as `stack.security`'s RuntimeSettings sees them, so that the broker's security
    lines and the engines' TLS paths are rendered by the same code as the local runtime's."""

    var_dir: Path = _NO_VAR_DIR
    enable_ssl: bool = True
    tls_dir: Path | None = _CONTAINER_TLS
    kafka_bootstrap: str = KAFKA_BOOTSTRAP
    kafka_port: int = 9092
    kafka_controller_port: int = 9097
    cassandra_host: str = CASSANDRA_HOST
    cassandra_port: int = 9042


def secret_name(path: PurePosixPath) -> str:
    """The compose secret of a mounted file: `tls/kafka-keystore.pem` -> `tls_kafka_keystore`."""
    return str(path.with_suffix("")).replace("/", "_").replace("-", "_")


def in_container(path: PurePosixPath) -> str:
    return str(RUN_SECRETS / path)


def kafka_connection(
    principal: Principal, passwords: Mapping[str, str], bootstrap: str = KAFKA_BOOTSTRAP
) -> KafkaConnection:
    return KafkaConnection(
        bootstrap_servers=bootstrap,
        security_protocol="SASL_SSL",
        username=principal.username,
        password=passwords[principal.key],
        ca_location=in_container(CA),
    )


def cassandra_connection(principal: Principal | None, passwords: Mapping[str, str]) -> CassandraConnection:
    """A TLS connection to compose's Cassandra, as `principal` (None: no credentials)."""
    return CassandraConnection(
        hosts=(CASSANDRA_HOST,),
        username=principal.username if principal else None,
        password=passwords[principal.key] if principal else None,
        ca_certs=in_container(CA),
        tls_server_name=CASSANDRA_HOST,
    )


def airflow_connections(passwords: Mapping[str, str]) -> dict[str, dict[str, object]]:
    """kafka_default and cassandra_default as the admin principals, built as the local runtime builds them;
    Airflow reads them through its LocalFilesystemBackend (AIRFLOW__SECRETS__BACKEND)."""
    return {
        connections.KAFKA_CONN_ID: connections.kafka_airflow_connection(
            kafka_connection(KAFKA_ADMIN, passwords)
        ),
        connections.CASSANDRA_CONN_ID: connections.cassandra_airflow_connection(
            cassandra_connection(CASSANDRA_ADMIN, passwords)
        ),
    }


def program_settings(passwords: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """The files of each program's PIPELINE_SECRETS_DIR (/run/secrets/<program>), one per connection setting
    and named after the settings field: the producer as Kafka `producer`; the Spark job as
    Kafka `spark` and Cassandra `pipeline_writer` (as `stack.security.write_client_files` does locally)."""
    producer = kafka_connection(KAFKA_PRODUCER, passwords)
    spark = kafka_connection(KAFKA_SPARK, passwords)
    writer = cassandra_connection(CASSANDRA_WRITER, passwords)
    return {
        "producer": _kafka_settings(producer),
        "spark": _kafka_settings(spark)
        | {
            "cassandra_username": str(writer.username),
            "cassandra_password": str(writer.password),
            "cassandra_ssl_ca_certs": str(writer.ca_certs),
        },
    }


def kafka_listener_logins(passwords: Mapping[str, str]) -> str:
    """The broker's own SCRAM login on each SASL_SSL listener: the line stack.security renders locally, once
    per listener. deploy/docker/kafka/start.sh appends it to the broker's configuration."""
    rendered = security.template_values(ComposeNode(), passwords)["KAFKA_SECURITY"].splitlines()
    prefix = "listener.name.sasl_ssl."
    (login,) = [line.removeprefix(prefix) for line in rendered if line.startswith(prefix)]
    return "".join(f"listener.name.{listener}.{login}\n" for listener in LISTENERS_WITH_LOGIN)


def mounted_files(
    tls_folder: Path, passwords: Mapping[str, str], cluster_id: str, scratch: Path
) -> dict[PurePosixPath, str]:
    """Every file compose mounts and its content."""
    files: dict[PurePosixPath, str] = {
        CA: (tls_folder / pki.CA_CERT).read_text(),
        KAFKA_KEYSTORE: pki.KAFKA.keystore(tls_folder).read_text(),
        CASSANDRA_KEYSTORE: pki.CASSANDRA.keystore(tls_folder).read_text(),
        KAFKA_LISTENER_LOGIN: kafka_listener_logins(passwords),
        KAFKA_ADMIN_CLIENT: kafka_connection(
            KAFKA_ADMIN, passwords, KAFKA_HEALTH_BOOTSTRAP
        ).java_client_properties(),
        AIRFLOW_CONNECTIONS: json.dumps(airflow_connections(passwords), indent=2) + "\n",
    }
    arguments = kafka_security.format_argument_file(
        scratch / "format.args", cluster_id, Path(str(KAFKA_CONFIG)), passwords
    )
    try:
        files[KAFKA_FORMAT_ARGUMENTS] = arguments.read_text()
    finally:
        arguments.unlink()
    files |= {PASSWORDS / principal.key: passwords[principal.key] for principal in INIT_PRINCIPALS}
    for program, settings in program_settings(passwords).items():
        files |= {PurePosixPath(program, field): value for field, value in settings.items()}
    return files


def write_secrets(
    folder: Path = SECRETS_DIR, environ: Mapping[str, str] | None = None
) -> dict[PurePosixPath, str]:
    """Generates what is missing (the CA and certificates, passwords, Kafka's cluster id; what exists is kept)
    and writes compose's files from them. Returns the mounted files."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)  # the mounted copies are world-readable (below): this folder keeps them private
    tls_folder = folder / "tls"
    # Compose's engines are reached by these names, not the local runtime's loopback addresses.
    pki.ensure(tls_folder, addresses=SERVER_NAMES)
    _check_server_names(tls_folder)
    passwords = credentials.passwords(folder / "passwords.json", environ)
    cluster_id_file = folder / "kafka-cluster-id"
    if not cluster_id_file.exists():
        credentials.write_private(
            cluster_id_file, base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        )
    files = mounted_files(tls_folder, passwords, cluster_id_file.read_text().strip(), folder)
    mounted = folder / MOUNTED
    for path, content in files.items():
        _publish(mounted / path, content)
    for stale in {p for p in mounted.rglob("*") if p.is_file()} - {mounted / p for p in files}:
        stale.unlink()
    return files


def read_passwords(folder: Path, principals: Iterable[Principal]) -> dict[str, str]:
    """The passwords of `principals` from their mounted files (/run/secrets/passwords/<principal>)."""
    passwords = {}
    for principal in principals:
        path = folder / principal.key
        try:
            passwords[principal.key] = path.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ComposeSecurityError(
                f"{path}: {error.strerror} (is it among the service's secrets?)"
            ) from None
    return passwords


def set_up_engines(secrets: Path) -> str:
    """The producer's and the Spark job's Kafka users and every ACL (as `admin`), Cassandra's roles (as the
    default superuser once, then `pipeline_admin`): what `stack up` does once the engines answer."""
    passwords = read_passwords(secrets / PASSWORDS, INIT_PRINCIPALS)
    admin = kafka_connection(KAFKA_ADMIN, passwords)
    kafka_security.upsert_users(admin, kafka_security.CLIENT_USERS, passwords)
    kafka_security.ensure_acls(admin)
    cassandra_security.ensure_roles(cassandra_connection(None, passwords), passwords)
    users = ", ".join(p.username for p in kafka_security.CLIENT_USERS)
    roles = ", ".join(p.username for p in (CASSANDRA_ADMIN, *cassandra_security.GRANTS))
    return f"Kafka users {users} and {len(kafka_security.pipeline_acls())} ACLs; Cassandra roles {roles}"


def grant(secrets: Path) -> str:
    """The writer's and reader's grants on the trading keyspace (as `pipeline_admin`)."""
    passwords = read_passwords(secrets / PASSWORDS, (CASSANDRA_ADMIN,))
    cassandra_security.ensure_grants(cassandra_connection(None, passwords), passwords)
    return ", ".join(f"{p.username}: {' '.join(rights)}" for p, rights in cassandra_security.GRANTS.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="docker-compose's secrets and one-shot security set-up")
    parser.add_argument("step", choices=("secrets", "engines", "grants"))
    step = parser.parse_args(argv).step
    try:
        if step == "secrets":
            files = write_secrets()
            print(
                f"compose secrets: {len(files)} files in {SECRETS_DIR / MOUNTED} (CA and certificates in "
                f"{SECRETS_DIR / 'tls'}, passwords in {SECRETS_DIR / 'passwords.json'}; kept on later runs)"
            )
        elif step == "engines":
            print(f"security-init: {set_up_engines(Path(str(RUN_SECRETS)))}")
        else:
            print(f"security-init: granted {grant(Path(str(RUN_SECRETS)))}")
    except (
        ComposeSecurityError,
        pki.PkiError,
        credentials.CredentialsError,
        kafka_security.KafkaSecurityError,
        cassandra_security.CassandraSecurityError,
    ) as error:
        sys.stderr.write(f"compose-security {step}: {error}\n")
        # As the local runtime's checks before start-up: a bad secret is a configuration error (2).
        return 2 if step == "secrets" else 1
    return 0


def _kafka_settings(connection: KafkaConnection) -> dict[str, str]:
    return {
        "kafka_security_protocol": connection.security_protocol,
        "kafka_sasl_username": str(connection.username),
        "kafka_sasl_password": str(connection.password),
        "kafka_ssl_ca_location": str(connection.ca_location),
    }


def _check_server_names(tls_folder: Path) -> None:
    """A folder from the local runtime or an older run may lack compose's names: say so before anything
    starts with certificates the clients would refuse."""
    for server in pki.SERVERS:
        certificate = x509.load_pem_x509_certificate(server.certificate(tls_folder).read_bytes())
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        present = {str(n) for n in names.get_values_for_type(x509.DNSName)}
        present |= {str(a) for a in names.get_values_for_type(x509.IPAddress)}
        missing = [name for name in SERVER_NAMES if name not in present]
        if missing:
            raise ComposeSecurityError(
                f"{server.certificate(tls_folder)}: does not name {', '.join(missing)}; delete "
                f"{tls_folder} to generate a new set, or supply certificates that do"
            )


def _publish(path: Path, content: str) -> None:
    """Writes `content` to `path` as 0444: compose mounts the file itself into containers whose users differ
    from yours (Docker ignores a file secret's mode outside swarm), so only the 0700 secrets folder keeps
    it private on the host."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(content)
    partial.chmod(0o444)
    partial.replace(path)


if __name__ == "__main__":
    raise SystemExit(main())
