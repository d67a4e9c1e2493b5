"""
### pipeline_bootstrap

Creates or verifies everything the pipeline needs before data flows. Run it by hand (or `make up` does)
after a fresh install and after adding a migration; a second run changes nothing.

1. **Kafka topics** `trades` and `trades.dead_letter` (names from `services/contracts.py`): created with
   their partitions, replication factor (env `KAFKA_REPLICATION_FACTOR`, default 1), `retention.ms`,
   `compression.type` and `min.insync.replicas`; an existing topic gets its configs aligned and more
   partitions if asked, and fails readably (`TopicConfigError`) if it has more partitions than configured.
2. **CQL migrations** of `sql/cql`, applied in version order once each and recorded with their SHA-256 in
   `trading.schema_migrations`; a changed applied file fails (`MigrationChecksumError`).
   `${replication_factor}` comes from env `CASSANDRA_REPLICATION_FACTOR` (default 1).
3. **Schema check**: tables, keys, clustering order, default TTLs and column types against the
   expectation in `plugins/finnhub_pipeline/schema_drift.py`; a difference fails (`SchemaDriftError`).

Variables (all optional): `kafka_trades_partitions` (3), `kafka_trades_retention_ms` (604800000 = 7 d),
`kafka_dead_letter_partitions` (1), `kafka_dead_letter_retention_ms` (1209600000 = 14 d),
`kafka_compression_type` (`producer`), `kafka_min_insync_replicas` (RF - 1, at least 1).
Connections: `kafka_default`, `cassandra_default`.
"""

from __future__ import annotations

from airflow.sdk import DAG

from finnhub_pipeline import migration_plan, variables
from finnhub_pipeline.dag_defaults import dag_kwargs
from finnhub_pipeline.operators.migrations import CqlMigrationsOperator
from finnhub_pipeline.operators.schema import SchemaDriftCheckOperator
from finnhub_pipeline.operators.topics import KafkaTopicOperator
from services import contracts

with DAG(
    dag_id="pipeline_bootstrap",
    schedule=None,
    **dag_kwargs(doc_md=__doc__, extra_tags=("bootstrap", "kafka", "cassandra")),
):
    trades_topic = KafkaTopicOperator(
        task_id="ensure_trades_topic",
        topic=contracts.TRADES_TOPIC,
        partitions=variables.KAFKA_TRADES_PARTITIONS.template,
        retention_ms=variables.KAFKA_TRADES_RETENTION_MS.template,
        compression_type=variables.KAFKA_COMPRESSION_TYPE.template,
        min_insync_replicas=variables.KAFKA_MIN_INSYNC_REPLICAS.template,
    )
    dead_letter_topic = KafkaTopicOperator(
        task_id="ensure_dead_letter_topic",
        topic=contracts.DEAD_LETTER_TOPIC,
        partitions=variables.KAFKA_DEAD_LETTER_PARTITIONS.template,
        retention_ms=variables.KAFKA_DEAD_LETTER_RETENTION_MS.template,
        compression_type=variables.KAFKA_COMPRESSION_TYPE.template,
        min_insync_replicas=variables.KAFKA_MIN_INSYNC_REPLICAS.template,
    )
    migrations = CqlMigrationsOperator(
        task_id="apply_cql_migrations",
        migrations_dir=str(migration_plan.MIGRATIONS_DIR),
        keyspace=contracts.KEYSPACE,
    )
    schema_check = SchemaDriftCheckOperator(task_id="check_schema", keyspace=contracts.KEYSPACE)

    migrations >> schema_check
