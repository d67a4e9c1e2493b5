"""
### cassandra_compaction

Daily maintenance of the pipeline's tables (`trades_v2`, `trade_aggregates`, `dead_letters`): for each,
`nodetool tablestats` (SSTable count, space used), `nodetool garbagecollect` (drops expired and shadowed
cells), `nodetool compact`, and `tablestats` again. Before and after are logged and returned as XCom.

The tables use TimeWindowCompactionStrategy, which already drops fully expired SSTables; this run
reclaims space within windows that still hold a mix of expired and live rows. It runs at 03:30 UTC, away
from the 02:00 backup, because a major compaction rewrites the table's files.

Connection: `cassandra_default` (extras `nodetool`, `jmx_host`, `jmx_port`).
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from finnhub_pipeline.dag_defaults import dag_kwargs
from finnhub_pipeline.operators.compaction import CassandraCompactionOperator
from services import contracts

with DAG(
    dag_id="cassandra_compaction",
    schedule="30 3 * * *",
    **dag_kwargs(doc_md=__doc__, extra_tags=("maintenance", "cassandra")),
):
    for table in (contracts.TRADES_TABLE, contracts.AGGREGATES_TABLE, contracts.DEAD_LETTER_TABLE):
        CassandraCompactionOperator(
            task_id=f"compact_{table}",
            keyspace=contracts.KEYSPACE,
            tables=[table],
            execution_timeout=timedelta(hours=4),
        )
