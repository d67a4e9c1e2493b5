"""
### ttl_audit

Daily check that retention works: `trades_v2` keeps 30 days and `trade_aggregates` 90 days
(`services/contracts.py`). For each table it compares `default_time_to_live` with the policy, then samples
rows from a random point of the token ring and reads `TTL()` and `WRITETIME()` of a column every row sets.
Violations: a wrong default TTL, a row without TTL, a TTL beyond the policy, a row still readable after its
retention ran out. Each is a log line; counts go to StatsD (`airflow.ttl_audit.<keyspace>.<table>.*`) and
XCom; any violation fails the run with `TtlViolationError`.

Variables (optional): `ttl_audit_sample_size` (1000 rows per table). Connection: `cassandra_default`.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from finnhub_pipeline import variables
from finnhub_pipeline.dag_defaults import dag_kwargs
from finnhub_pipeline.operators.ttl_audit import TtlAuditOperator
from services import contracts

with DAG(
    dag_id="ttl_audit",
    schedule="0 5 * * *",
    **dag_kwargs(doc_md=__doc__, extra_tags=("maintenance", "cassandra", "retention")),
):
    TtlAuditOperator(
        task_id="audit_ttl",
        keyspace=contracts.KEYSPACE,
        sample_size=variables.TTL_AUDIT_SAMPLE_SIZE.template,
        execution_timeout=timedelta(minutes=30),
    )
