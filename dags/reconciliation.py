"""
### reconciliation

Hourly proof that nothing was lost: at minute 15 of every hour it checks the previous complete hour
(at 10:15 UTC: 09:00-10:00 of trade time), per symbol:

- **trades**: the valid trade records in Kafka (`trades`) whose trade time lies in the hour, read from the
  Kafka timestamps 1 minute before the hour to `reconciliation_late_grace_minutes` after it, against the
  rows of `trades_v2` in the hour: nothing missing, nothing extra (a row counts as extra when its
  kafka_partition/kafka_offset lie in the read but Kafka has no such trade; rows that reached Kafka after
  the grace are counted as outside the read). Records the job dead-letters are not expected in `trades_v2`;
- **bars**: every bar of `trade_aggregates` in the hour against the bar recomputed from the hour's rows with
  `jobs.spark_stream.bars.compute_bar` (exact float comparison: the same function on the same doubles),
  and bars missing or extra.

Before comparing it waits (up to `reconciliation_stream_wait_minutes`) until the stream job's checkpoint
shows it has written every record checked, so a job that is behind is never reported as a loss.
An hour whose start Kafka no longer holds (its earliest retained record is younger) is reported as
*beyond retention*, not as a loss; when no hour of the run could be checked the task ends *skipped*.

**On demand**: trigger with params `start` and `end` (ISO-8601 UTC on whole minutes, `end` exclusive, at
most 7 days), e.g. `{"start": "2026-05-01T09:00:00Z", "end": "2026-05-01T12:00:00Z"}`; the range is checked
hour by hour. A malformed range fails the task at once with a readable reason.

**Outputs**: per symbol the gauges `airflow_reconciliation_missing_trades`, `..._extra_trades`,
`..._wrong_bars`, `..._checked_trades` (label `symbol`), plus `..._checked_window_start_timestamp_seconds`
and `..._last_run_timestamp_seconds`, through StatsD to statsd_exporter; the report as XCom `report`.
Any difference fails the task at once (no retry: it was read twice) with a summary naming each symbol and
hour and which hours `make reset-checkpoint FROM=<time>` repairs; alert `ReconciliationDifferences`.

On by default: `make up` unpauses it. Its schedule is a `CronTriggerTimetable` in UTC without catchup, so on
unpause Airflow creates the latest past scheduled run at once (a fresh stack gets one run right away: its
hour is usually beyond retention, and the task ends skipped).

Cost: each hour's records are read once from Kafka (plus the grace) and its rows and bars once from
Cassandra, so a run grows linearly with trades per hour (README, "Maintenance", has the measured figures).

Variables (optional): `reconciliation_late_grace_minutes` (10), `reconciliation_stream_wait_minutes` (15),
`spark_checkpoint_dir` (`var/checkpoints/spark_stream`: the stream job's checkpoint, read to wait for it).
Connections: `kafka_default`, `cassandra_default`.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, CronTriggerTimetable, Param

from finnhub_pipeline import variables
from finnhub_pipeline.dag_defaults import MAINTENANCE_TAG, dag_kwargs
from finnhub_pipeline.operators.reconciliation import ReconciliationOperator
from services import contracts

RANGE_HELP = (
    "ISO-8601 UTC on a whole minute, e.g. 2026-05-01T09:00:00Z; "
    "leave start and end empty for the previous complete hour"
)

with DAG(
    dag_id="reconciliation",
    schedule=CronTriggerTimetable("15 * * * *", timezone="UTC"),
    params={
        "start": Param(
            None, type=["null", "string"], description=f"Start of the range (inclusive). {RANGE_HELP}"
        ),
        "end": Param(
            None, type=["null", "string"], description=f"End of the range (exclusive). {RANGE_HELP}"
        ),
    },
    **dag_kwargs(doc_md=__doc__, extra_tags=(MAINTENANCE_TAG, "kafka", "cassandra", "reconciliation")),
):
    ReconciliationOperator(
        task_id="reconcile",
        start="{{ params.start or '' }}",
        end="{{ params.end or '' }}",
        late_grace_minutes=variables.RECONCILIATION_LATE_GRACE_MINUTES.template,
        stream_wait_minutes=variables.RECONCILIATION_STREAM_WAIT_MINUTES.template,
        checkpoint=variables.SPARK_CHECKPOINT_DIR.template,
        keyspace=contracts.KEYSPACE,
        topic=contracts.TRADES_TOPIC,
        execution_timeout=timedelta(hours=2),
    )
