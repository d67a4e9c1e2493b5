"""pipeline_bootstrap through the REST API on the running stack: success, and nothing changes.

Topics and schema exist already (the stack's first `up` ran the DAG), so a run must leave the topics'
partitions and configs, the applied migrations and the keyspace's tables exactly as they were.
"""

from __future__ import annotations

from typing import Any

from confluent_kafka.admin import AdminClient, ConfigResource

from services import contracts
from stack.airflow_api import AirflowApi
from stack.settings import RuntimeSettings


def topic_state(runtime: RuntimeSettings) -> dict[str, Any]:
    admin = AdminClient(runtime.kafka_connection().client_options())
    topics = (contracts.TRADES_TOPIC, contracts.DEAD_LETTER_TOPIC)
    metadata = admin.list_topics(timeout=30).topics
    resources = [ConfigResource(ConfigResource.Type.TOPIC, topic) for topic in topics]
    state: dict[str, Any] = {}
    for resource, future in admin.describe_configs(resources).items():
        configs = future.result(timeout=30)
        state[resource.name] = {
            "partitions": len(metadata[resource.name].partitions),
            "configs": {name: (entry.value, entry.source) for name, entry in configs.items()},
        }
    return state


def schema_state(cassandra_session: Any) -> dict[str, Any]:
    migrations = cassandra_session.execute(
        "SELECT version, filename, checksum, applied_at "
        f"FROM {contracts.KEYSPACE}.{contracts.MIGRATIONS_TABLE}"
    )
    tables = cassandra_session.execute(
        "SELECT table_name, default_time_to_live, compaction FROM system_schema.tables "
        "WHERE keyspace_name = %s",
        (contracts.KEYSPACE,),
    )
    columns = cassandra_session.execute(
        "SELECT table_name, column_name, type, kind FROM system_schema.columns WHERE keyspace_name = %s",
        (contracts.KEYSPACE,),
    )
    return {
        "migrations": sorted(tuple(row) for row in migrations),
        "tables": sorted((row.table_name, row.default_time_to_live, str(row.compaction)) for row in tables),
        "columns": sorted(tuple(row) for row in columns),
    }


def test_bootstrap_on_a_bootstrapped_stack_succeeds_and_changes_nothing(
    runtime: RuntimeSettings, cassandra_session: Any
) -> None:
    topics_before = topic_state(runtime)
    schema_before = schema_state(cassandra_session)
    assert len(schema_before["migrations"]) >= 4, "the stack is not bootstrapped"

    state = AirflowApi(runtime).run_to_completion("pipeline_bootstrap", timeout_s=600)

    assert state == "success"
    assert topic_state(runtime) == topics_before
    assert schema_state(cassandra_session) == schema_before
