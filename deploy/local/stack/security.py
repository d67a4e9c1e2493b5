"""ENABLE_SSL=true for the local runtime: what it renders, what it writes for the clients, and the order of
the steps `stack up` takes (checked before any service starts; principals and ACLs once the engines answer).

    preflight          certificates generated or checked, passwords loaded: a bad file stops start-up
    template_values    the listeners, TLS and SASL of Kafka's server.properties; Cassandra's authenticator,
                       authorizer and client encryption
    write_client_files the 0600 files clients read: Kafka tools' properties, cqlsh's rc and credentials, the
                       secret folders of the producer and the Spark job (PIPELINE_SECRETS_DIR)
    prepare_kafka_switch / after_kafka / after_cassandra / after_bootstrap: SCRAM users, ACLs, roles, grants
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Final, Protocol

from pydantic import Field, field_validator

from services import cassandra_session, contracts, layout
from services.cassandra_session import CassandraConnection
from services.configuration import PipelineSettings
from services.kafka_options import KafkaConnection

from . import cassandra_security, credentials, kafka_security, pki
from .credentials import (
    CASSANDRA_ADMIN,
    CASSANDRA_WRITER,
    KAFKA_ADMIN,
    KAFKA_PRODUCER,
    KAFKA_SPARK,
    Principal,
)


class RuntimeSettings(Protocol):
    """What this module reads of `stack.settings.RuntimeSettings`."""

    @property
    def var_dir(self) -> Path: ...
    @property
    def enable_ssl(self) -> bool: ...
    @property
    def tls_dir(self) -> Path | None: ...
    @property
    def kafka_bootstrap(self) -> str: ...
    @property
    def kafka_port(self) -> int: ...
    @property
    def kafka_controller_port(self) -> int: ...
    @property
    def cassandra_host(self) -> str: ...
    @property
    def cassandra_port(self) -> int: ...


TRUE_FALSE: Final = {"true": True, "false": False}


class SecuritySettings(PipelineSettings):
    """The switch and where the secured runtime keeps its secrets (fields of RuntimeSettings)."""

    enable_ssl: bool = Field(
        default=False,
        description="TLS and authentication for Kafka and Cassandra, and every client with them",
    )
    tls_dir: Path | None = Field(
        default=None,
        description="your own CA and certificates (ca.crt, <engine>.crt, <engine>-keystore.pem); "
        "empty: generated under var/secrets/tls",
    )

    @field_validator("enable_ssl", mode="before")
    @classmethod
    def _true_or_false(cls, value: object) -> object:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in TRUE_FALSE:
            return TRUE_FALSE[value.strip().lower()]
        raise ValueError("must be true or false")


def secrets_dir(settings: RuntimeSettings) -> Path:
    return layout.secrets_dir(settings.var_dir)


def tls_dir(settings: RuntimeSettings) -> Path:
    return settings.tls_dir or secrets_dir(settings) / "tls"


def passwords_file(settings: RuntimeSettings) -> Path:
    return secrets_dir(settings) / "passwords.json"


def ca_file(settings: RuntimeSettings) -> Path:
    return tls_dir(settings) / pki.CA_CERT


def preflight(settings: RuntimeSettings) -> dict[str, str] | None:
    """With ENABLE_SSL: certificates generated (first start, when TLS_DIR is not set) or checked, and every
    password loaded; raises pki.PkiError or credentials.CredentialsError naming the file or variable.
    Nothing is started or changed before this passes. Without ENABLE_SSL: None."""
    if not settings.enable_ssl:
        return None
    folder = tls_dir(settings)
    if settings.tls_dir is None:
        credentials.private_folder(secrets_dir(settings))
        pki.ensure(folder)
    else:
        pki.check(folder)  # the user's own certificates are never generated or changed
    return credentials.passwords(passwords_file(settings))


def kafka_connection(
    settings: RuntimeSettings, principal: Principal, passwords: Mapping[str, str]
) -> KafkaConnection:
    return KafkaConnection(
        bootstrap_servers=settings.kafka_bootstrap,
        security_protocol="SASL_SSL",
        username=principal.username,
        password=passwords[principal.key],
        ca_location=str(ca_file(settings)),
    )


def cassandra_connection(
    settings: RuntimeSettings, principal: Principal, passwords: Mapping[str, str]
) -> CassandraConnection:
    return CassandraConnection(
        hosts=(settings.cassandra_host,),
        port=settings.cassandra_port,
        username=principal.username,
        password=passwords[principal.key],
        ca_certs=str(ca_file(settings)),
    )


def template_values(
    settings: RuntimeSettings, passwords: Mapping[str, str] | None, kafka_host: str = "127.0.0.1"
) -> dict[str, str]:
    """The ${...} values of Kafka's and Cassandra's config templates for the chosen mode; the listeners are
    the broker's on `kafka_host` (each node of TOPOLOGY=cluster has its own address, which the certificate
    names)."""
    kafka = f"{kafka_host}:{settings.kafka_port}"
    controller = f"{kafka_host}:{settings.kafka_controller_port}"
    if passwords is None:
        return {
            "KAFKA_LISTENERS": f"PLAINTEXT://{kafka},CONTROLLER://{controller}",
            "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://{kafka}",
            "KAFKA_LISTENER_PROTOCOLS": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "KAFKA_INTER_BROKER_LISTENER": "PLAINTEXT",
            "KAFKA_SECURITY": "# ENABLE_SSL=false: plaintext, no authentication, loopback only.",
            "CASSANDRA_AUTHENTICATOR": "AllowAllAuthenticator",
            "CASSANDRA_AUTHORIZER": "AllowAllAuthorizer",
            "CASSANDRA_CLIENT_ENCRYPTION": "{enabled: false}",
        }
    tls = tls_dir(settings)
    broker = passwords[credentials.KAFKA_BROKER.key]
    kafka_security_lines = [
        "# ENABLE_SSL=true: TLS everywhere, SCRAM-SHA-512 for clients, ACLs (stack/security.py).",
        "ssl.keystore.type=PEM",
        f"ssl.keystore.location={pki.KAFKA.keystore(tls)}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={tls / pki.CA_CERT}",
        "ssl.endpoint.identification.algorithm=https",
        "ssl.enabled.protocols=TLSv1.3,TLSv1.2",
        # Broker -> controller is mutual TLS: the broker is the principal of its certificate, a super user.
        "listener.name.controller.ssl.client.auth=required",
        "sasl.enabled.mechanisms=SCRAM-SHA-512",
        "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config="
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{credentials.KAFKA_BROKER.username}" password="{broker}";',
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        f"super.users=User:CN={pki.KAFKA.common_name};User:{credentials.KAFKA_BROKER.username};"
        f"User:{KAFKA_ADMIN.username}",
        "allow.everyone.if.no.acl.found=false",
    ]
    encryption = (
        "{enabled: true, optional: false, require_client_auth: false, "
        "ssl_context_factory: {class_name: org.apache.cassandra.security.PEMBasedSslContextFactory}, "
        f"keystore: {pki.CASSANDRA.keystore(tls)}, truststore: {tls / pki.CA_CERT}, "
        "accepted_protocols: [TLSv1.3, TLSv1.2]}"
    )
    return {
        "KAFKA_LISTENERS": f"SASL_SSL://{kafka},CONTROLLER://{controller}",
        "KAFKA_ADVERTISED_LISTENERS": f"SASL_SSL://{kafka}",
        "KAFKA_LISTENER_PROTOCOLS": "CONTROLLER:SSL,SASL_SSL:SASL_SSL",
        "KAFKA_INTER_BROKER_LISTENER": "SASL_SSL",
        "KAFKA_SECURITY": "\n".join(kafka_security_lines),
        "CASSANDRA_AUTHENTICATOR": "PasswordAuthenticator",
        "CASSANDRA_AUTHORIZER": "CassandraAuthorizer",
        "CASSANDRA_CLIENT_ENCRYPTION": encryption,
    }


def write_client_files(settings: RuntimeSettings, passwords: Mapping[str, str] | None) -> None:
    """The 0600 files the clients of the chosen mode read; in plaintext mode the secret folders are empty
    (the producer and the job then connect in plaintext) and the tools' files are removed."""
    producer_files: dict[str, str] = {}
    spark_files: dict[str, str] = {}
    tools = settings.var_dir / "run" / "tools"
    tools.mkdir(parents=True, exist_ok=True)
    admin_properties, cqlshrc = tools / "kafka-admin.properties", tools / "cqlshrc"
    credentials.private_folder(secrets_dir(settings))  # the programs' folders inside it are created below
    if passwords is None:
        for stale in (admin_properties, cqlshrc, secrets_dir(settings) / "cqlsh-credentials"):
            stale.unlink(missing_ok=True)
    else:
        producer_files = kafka_connection(settings, KAFKA_PRODUCER, passwords).as_settings()
        spark_files = kafka_connection(settings, KAFKA_SPARK, passwords).as_settings()
        spark_files |= cassandra_session.as_settings(
            cassandra_connection(settings, CASSANDRA_WRITER, passwords)
        )
        credentials.write_private(
            admin_properties, kafka_connection(settings, KAFKA_ADMIN, passwords).java_client_properties()
        )
        admin_login = f"username = {CASSANDRA_ADMIN.username}\npassword = {passwords[CASSANDRA_ADMIN.key]}\n"
        credentials.write_private(
            secrets_dir(settings) / "cqlsh-credentials", f"[plain_text_auth]\n{admin_login}"
        )
        credentials.write_private(
            cqlshrc,
            "[connection]\nssl = true\n\n"
            f"[ssl]\ncertfile = {ca_file(settings)}\nvalidate = true\n\n"
            f"[authentication]\ncredentials = {secrets_dir(settings) / 'cqlsh-credentials'}\n",
        )
    credentials.write_secret_folder(secret_folder(settings, "producer"), producer_files)
    credentials.write_secret_folder(secret_folder(settings, "spark"), spark_files)
    # A digest of each program's secrets beside its rendered config: a changed password (rotation) changes
    # the program's config digest, so `stack up` restarts it (Airflow's components, and so the Spark job).
    for program, files in (("producer", producer_files), ("airflow", spark_files)):
        digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
        run = settings.var_dir / "run" / program
        run.mkdir(parents=True, exist_ok=True)
        credentials.write_private(run / "secrets.digest", digest + "\n")


def secret_folder(settings: RuntimeSettings, program: str) -> Path:
    """The PIPELINE_SECRETS_DIR of a program: one file per connection setting, named after the field."""
    return layout.secret_folder(program, settings.var_dir)


def passwords(settings: RuntimeSettings) -> dict[str, str] | None:
    """Every principal's password with ENABLE_SSL (generated into the password file the first time), else
    None."""
    return credentials.passwords(passwords_file(settings)) if settings.enable_ssl else None


def rendered_plaintext(settings: RuntimeSettings) -> bool:
    """Whether the Kafka config rendered last time (the running broker's, node 1's in TOPOLOGY=cluster) has a
    plaintext client listener."""
    node = "kafka-1" if getattr(settings, "cluster", False) else "kafka"
    rendered = settings.var_dir / "run" / node / "server.properties"
    return rendered.exists() and "listeners=PLAINTEXT://" in rendered.read_text()


def kafka_admin_properties(settings: RuntimeSettings) -> Path | None:
    """The `--command-config` file of Kafka's tools, or None in plaintext mode."""
    path = settings.var_dir / "run" / "tools" / "kafka-admin.properties"
    return path if settings.enable_ssl else None


def cqlshrc(settings: RuntimeSettings) -> Path | None:
    path = settings.var_dir / "run" / "tools" / "cqlshrc"
    return path if settings.enable_ssl else None


def prepare_kafka_switch(
    settings: RuntimeSettings, passwords: Mapping[str, str], running_plaintext: bool
) -> bool:
    """Switching a plaintext stack to ENABLE_SSL: its storage was formatted without SCRAM users, so the broker
    and admin users are created now, over the still-plaintext listener, before the broker restarts secured.
    Returns whether it created them."""
    if not running_plaintext:
        return False
    plaintext = KafkaConnection(bootstrap_servers=settings.kafka_bootstrap)
    kafka_security.upsert_users(plaintext, kafka_security.FORMATTED_USERS, passwords)
    return True


def after_kafka(settings: RuntimeSettings, passwords: Mapping[str, str]) -> None:
    """Once the secured broker answers: the producer's and the job's users and every ACL, as admin."""
    admin = kafka_connection(settings, KAFKA_ADMIN, passwords)
    kafka_security.upsert_users(admin, kafka_security.CLIENT_USERS, passwords)
    kafka_security.ensure_acls(admin)


def after_cassandra(settings: RuntimeSettings, passwords: Mapping[str, str]) -> None:
    """Once the secured node answers: pipeline_admin, `cassandra` disabled, the writer and reader roles."""
    node = CassandraConnection(
        hosts=(settings.cassandra_host,), port=settings.cassandra_port, ca_certs=str(ca_file(settings))
    )
    # TOPOLOGY=cluster: every node holds the roles (the keyspace's replication factor: one per node).
    replication = int(getattr(settings, "cassandra_replication_factor", 1) or 1)
    cassandra_security.ensure_roles(node, passwords, auth_replication_factor=replication)


def after_bootstrap(settings: RuntimeSettings, passwords: Mapping[str, str]) -> None:
    """Once Airflow's bootstrap created the keyspace: the writer's and reader's grants on it."""
    node = CassandraConnection(
        hosts=(settings.cassandra_host,), port=settings.cassandra_port, ca_certs=str(ca_file(settings))
    )
    cassandra_security.ensure_grants(node, passwords, contracts.KEYSPACE)
