"""
### ttl_audit

Daily check that retention works: `trades_v2` keeps 30 days and `trade_aggregates` 90 days
(`services/contracts.py`). For each table it compares `default_time_to_live` with the policy, then samples
rows from a random point of the token ring and reads `TTL()` and `WRITETIME()` of a column every row sets.
Violations: a wrong default TTL, a row without TTL, a TTL beyond the policy, a row still readable after its
retention ran out. Each is a log line; counts go to StatsD (`airflow.ttl_audit.<keyspace>.<table>.*`) and
XCom; any violation fails the run with `TtlViolationError`.

On by default: `make up` unpauses it. Its schedule is a `CronTriggerTimetable` in UTC without catchup, so on
unpause Airflow creates the latest past scheduled run at once (a fresh stack gets one run right away), then
one per day (05:00 UTC).

Variables (optional): `ttl_audit_sample_size` (1000 rows per table). Connection: `cassandra_default`.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, CronTriggerTimetable

from finnhub_pipeline import variables
from finnhub_pipeline.dag_defaults import MAINTENANCE_TAG, dag_kwargs
from finnhub_pipeline.operators.ttl_audit import TtlAuditOperator
from services import contracts

with DAG(
    dag_id="ttl_audit",
    schedule=CronTriggerTimetable("0 5 * * *", timezone="UTC"),
    **dag_kwargs(doc_md=__doc__, extra_tags=(MAINTENANCE_TAG, "cassandra", "retention")),
):
    TtlAuditOperator(
        task_id="audit_ttl",
        keyspace=contracts.KEYSPACE,
        sample_size=variables.TTL_AUDIT_SAMPLE_SIZE.template,
        execution_timeout=timedelta(minutes=30),
    )
