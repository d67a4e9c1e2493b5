"""Kafka's side of the secured runtime: SCRAM users and the ACLs that give each principal the least it needs.

The broker's and the admin's SCRAM credentials exist from the first start (KIP-900: written when KRaft
storage is formatted, through a 0600 Java argument file so no password is ever on a command line); the
producer's and the Spark job's are upserted by the admin after every start, with their ACLs:

    producer  Write, Describe on the trades and dead-letter topics
    spark     Read, Describe on the trades topic; Read on its consumer groups (prefix spark-kafka-source-)
    admin     super user (topics, ACLs, offsets: Airflow's bootstrap, the operations tools, health checks)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialAlteration,
    UserScramCredentialUpsertion,
)

from services import contracts
from services.kafka_options import KafkaConnection

from .credentials import KAFKA_ADMIN, KAFKA_BROKER, KAFKA_PRODUCER, KAFKA_SPARK, Principal

SCRAM_ITERATIONS: Final = 8192
SPARK_GROUP_PREFIX: Final = "spark-kafka-source-"
"""Spark's Kafka source names its executors' consumer groups so (it commits nothing to them)."""
FORMATTED_USERS: Final = (KAFKA_BROKER, KAFKA_ADMIN)
"""Users that must exist before the broker's first secured start: the broker's inter-broker login and the
admin who creates the others."""
CLIENT_USERS: Final = (KAFKA_PRODUCER, KAFKA_SPARK)


class KafkaSecurityError(Exception):
    """Creating a SCRAM user or an ACL failed; the message names the user or the binding."""


def format_argument_file(path: Path, cluster_id: str, config: Path, passwords: Mapping[str, str]) -> Path:
    """A Java argument file (`java ... @file`) for `kafka-storage format` with the SCRAM users of
    FORMATTED_USERS: the launcher reads it, so /proc/<pid>/cmdline shows only `@file`. Written 0600; the
    caller deletes it afterwards."""
    lines = ["kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config)]
    for principal in FORMATTED_USERS:
        lines += ["--add-scram", _scram_argument(principal, passwords[principal.key])]
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write("".join(f"{_quoted(line)}\n" for line in lines))
    return path


def upsert_users(
    admin: KafkaConnection, principals: Iterable[Principal], passwords: Mapping[str, str]
) -> None:
    """Sets each principal's SCRAM-SHA-512 password (creating the user when new), as `admin`."""
    upserts: list[UserScramCredentialAlteration] = [
        UserScramCredentialUpsertion(
            principal.username,
            ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS),
            passwords[principal.key].encode("utf-8"),
        )
        for principal in principals
    ]
    client = AdminClient(admin.client_options())
    for user, future in client.alter_user_scram_credentials(upserts, request_timeout=30).items():
        try:
            future.result()
        except KafkaException as error:
            raise KafkaSecurityError(f"SCRAM user {user}: {error.args[0].str()}") from None


def pipeline_acls() -> list[AclBinding]:
    """The ACLs of the producer and the Spark job: nothing else is allowed to either."""

    def allow(principal: Principal, resource: ResourceType, name: str, operation: AclOperation,
              pattern: ResourcePatternType = ResourcePatternType.LITERAL) -> AclBinding:  # fmt: skip
        return AclBinding(
            resource, name, pattern, f"User:{principal.username}", "*", operation, AclPermissionType.ALLOW
        )

    topic, group = ResourceType.TOPIC, ResourceType.GROUP
    bindings = [
        allow(KAFKA_PRODUCER, topic, name, operation)
        for name in (contracts.TRADES_TOPIC, contracts.DEAD_LETTER_TOPIC)
        for operation in (AclOperation.WRITE, AclOperation.DESCRIBE)
    ]
    bindings += [
        allow(KAFKA_SPARK, topic, contracts.TRADES_TOPIC, op)
        for op in (AclOperation.READ, AclOperation.DESCRIBE)
    ]
    bindings.append(
        allow(KAFKA_SPARK, group, SPARK_GROUP_PREFIX, AclOperation.READ, ResourcePatternType.PREFIXED)
    )
    return bindings


def ensure_acls(admin: KafkaConnection) -> None:
    """Creates the pipeline's ACLs (creating one that exists changes nothing), as `admin`."""
    client = AdminClient(admin.client_options())
    for binding, future in client.create_acls(pipeline_acls(), request_timeout=30).items():
        try:
            future.result()
        except KafkaException as error:
            raise KafkaSecurityError(f"ACL {binding}: {error.args[0].str()}") from None


def _scram_argument(principal: Principal, password: str) -> str:
    return f"SCRAM-SHA-512=[name={principal.username},iterations={SCRAM_ITERATIONS},password={password}]"


def _quoted(argument: str) -> str:
    # Java argument files split on white space and honour double quotes; passwords hold neither
    # (credentials.passwords refuses quotes and backslashes), but a path may hold spaces.
    return f'"{argument}"' if any(c.isspace() for c in argument) else argument
