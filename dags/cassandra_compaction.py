"""
### cassandra_compaction

Daily maintenance of the pipeline's tables (`trades_v2`, `trade_aggregates`, `dead_letters`): for each,
`nodetool tablestats` (SSTable count, space used), `nodetool garbagecollect` (drops expired and shadowed
cells), `nodetool compact`, and `tablestats` again. Before and after are logged and returned as XCom.

The tables use TimeWindowCompactionStrategy, which already drops fully expired SSTables; this run
reclaims space within windows that still hold a mix of expired and live rows. It runs at 03:30 UTC, away
from the 02:00 backup, because a major compaction rewrites the table's files.

On by default: `make up` unpauses it. Its schedule is a `CronTriggerTimetable` in UTC without catchup, so on
unpause Airflow creates the latest past scheduled run at once (a fresh stack gets one run right away), then
one per day (03:30 UTC).

Connection: `cassandra_default` (extras `nodetool`, `jmx_host`, `jmx_port`).
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, CronTriggerTimetable

from finnhub_pipeline.dag_defaults import MAINTENANCE_TAG, dag_kwargs
from finnhub_pipeline.operators.compaction import CassandraCompactionOperator
from services import contracts

with DAG(
    dag_id="cassandra_compaction",
    schedule=CronTriggerTimetable("30 3 * * *", timezone="UTC"),
    **dag_kwargs(doc_md=__doc__, extra_tags=(MAINTENANCE_TAG, "cassandra")),
):
    for table in (contracts.TRADES_TABLE, contracts.AGGREGATES_TABLE, contracts.DEAD_LETTER_TABLE):
        CassandraCompactionOperator(
            task_id=f"compact_{table}",
            keyspace=contracts.KEYSPACE,
            tables=[table],
            execution_timeout=timedelta(hours=4),
        )
