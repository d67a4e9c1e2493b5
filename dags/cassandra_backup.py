"""
### cassandra_backup

Daily backup of keyspace `trading`: `nodetool snapshot`, the snapshot's SSTables copied to
`<backup_dir>/<UTC time>/<table>/`, the keyspace schema (`schema.cql`), `backup.json` and a SHA-256
manifest of every file (`MANIFEST.sha256`, checkable with `sha256sum -c`), then `nodetool clearsnapshot`.
The newest `cassandra_backup_keep` backups are kept; older ones are deleted.

On by default: `make up` unpauses it. Its schedule is a `CronTriggerTimetable` in UTC without catchup, so on
unpause Airflow creates the latest past scheduled run at once (a fresh stack gets one run right away), then
one per day (02:00 UTC).

Restore: `make restore BACKUP=var/backups/<time> [KEYSPACE=<new name>]`, i.e.
`scripts/restore_cassandra.sh <backup> [target_keyspace]`: verifies the manifest, creates the keyspace and
tables (under a new name if given), loads the SSTables with `nodetool import` and prints row counts.

Variables (optional): `cassandra_backup_keep` (7).
Connection: `cassandra_default` (extras `data_dir`, `backup_dir`, `nodetool`, `jmx_port`). The task must
run on the Cassandra node's machine: it reads the snapshot from the node's data directory.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, CronTriggerTimetable

from finnhub_pipeline import variables
from finnhub_pipeline.dag_defaults import MAINTENANCE_TAG, dag_kwargs
from finnhub_pipeline.operators.backup import CassandraBackupOperator
from services import contracts

with DAG(
    dag_id="cassandra_backup",
    schedule=CronTriggerTimetable("0 2 * * *", timezone="UTC"),
    **dag_kwargs(doc_md=__doc__, extra_tags=(MAINTENANCE_TAG, "cassandra", "backup")),
):
    CassandraBackupOperator(
        task_id="backup_keyspace",
        keyspace=contracts.KEYSPACE,
        keep=variables.CASSANDRA_BACKUP_KEEP.template,
        execution_timeout=timedelta(hours=2),
    )
