"""Kafka's users and ACLs as the secured runtime creates them (pure parts; the live ones: integration)."""

from __future__ import annotations

from pathlib import Path

from confluent_kafka.admin import AclOperation, ResourcePatternType, ResourceType

from services import contracts
from stack import kafka_security
from stack.credentials import PRINCIPALS

PASSWORDS = {principal.key: f"pw-{principal.key}" for principal in PRINCIPALS}


def test_the_format_argument_file_is_private_and_holds_the_broker_and_admin_users(tmp_path: Path) -> None:
    path = kafka_security.format_argument_file(
        tmp_path / "format.args", "CLUSTER", tmp_path / "server.properties", PASSWORDS
    )
    assert path.stat().st_mode & 0o777 == 0o600
    lines = path.read_text().splitlines()
    assert lines[:4] == ["kafka.tools.StorageTool", "format", "-t", "CLUSTER"]
    scram = [lines[i + 1] for i, line in enumerate(lines) if line == "--add-scram"]
    assert scram == [
        "SCRAM-SHA-512=[name=broker,iterations=8192,password=pw-kafka_broker]",
        "SCRAM-SHA-512=[name=admin,iterations=8192,password=pw-kafka_admin]",
    ]


def test_the_producer_may_only_write_and_describe_the_two_pipeline_topics() -> None:
    producer = {
        (b.restype, b.name, b.operation)
        for b in kafka_security.pipeline_acls()
        if b.principal == "User:producer"
    }
    assert producer == {
        (ResourceType.TOPIC, topic, operation)
        for topic in (contracts.TRADES_TOPIC, contracts.DEAD_LETTER_TOPIC)
        for operation in (AclOperation.WRITE, AclOperation.DESCRIBE)
    }


def test_the_spark_job_may_only_read_trades_and_use_its_own_consumer_groups() -> None:
    spark = {
        (b.restype, b.name, b.resource_pattern_type, b.operation)
        for b in kafka_security.pipeline_acls()
        if b.principal == "User:spark"
    }
    assert spark == {
        (ResourceType.TOPIC, contracts.TRADES_TOPIC, ResourcePatternType.LITERAL, AclOperation.READ),
        (ResourceType.TOPIC, contracts.TRADES_TOPIC, ResourcePatternType.LITERAL, AclOperation.DESCRIBE),
        (ResourceType.GROUP, "spark-kafka-source-", ResourcePatternType.PREFIXED, AclOperation.READ),
    }
