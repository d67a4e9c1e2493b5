"""
### stream_supervisor

Keeps the Spark Structured Streaming job (`jobs/spark_stream/main.py`) running: a `@continuous` DAG with
one run at a time.

- **submit_stream** runs `spark-submit` through the Spark provider's `SparkSubmitOperator` on the
  `spark_default` connection (master, deploy mode, binary). When the job exits it fails and is retried
  with a backoff capped at 60 s (30 s, then 60 s), so a crashed job runs again within 2 minutes; when
  its retries are spent the run fails and the continuous schedule starts a fresh run at once.
- **watch_stream** (`SparkStreamHealthSensor`) runs beside it: every minute it reads the job's Prometheus
  metrics and the `trades` topic's end offsets; when no batch completed for `spark_stream_stall_minutes`
  while the lag grew, it stops the job (SIGTERM to spark-submit, then SIGKILL), so submit_stream
  fails and retries. It succeeds when submit_stream has finished.

**Stopping.** Pause the DAG: watch_stream sees the pause within a minute and stops the job (SIGTERM:
Spark's shutdown hooks stop the query; the checkpoint and the idempotent writes make the next start
resume without loss or duplicates). submit_stream then waits as *up_for_retry*, because the scheduler
queues no task of a paused DAG; unpausing resumes the job. To stop at once, also mark the running
submit_stream task failed (UI or REST API): Airflow then calls the operator's `on_kill`, which kills
spark-submit. `execution_timeout` is None on both tasks: a stream has no end.

Variables (all optional): `spark_jars` (comma-separated jars: Kafka connector; `make up` sets
AIRFLOW_VAR_SPARK_JARS), `spark_checkpoint_dir` (`var/checkpoints/spark_stream` in the checkout),
`spark_executor_memory` (1g), `spark_driver_memory` (1g: the driver's heap, whole from start-up;
`stream_submit.driver_java_options`), `spark_metrics_port` (8001: the job serves its metrics there and the
sensor reads them there), `spark_stream_stall_minutes` (10), `spark_starting_offsets`
(`earliest`, `latest` or a Unix time in ms; used only when the checkpoint is empty), `spark_secrets_dir`
(`var/secrets/spark` in the checkout: with ENABLE_SSL the job's principal and passwords, one 0600 file each).
Connections: `spark_default`, `kafka_default`.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import DAG

from finnhub_pipeline import stream_submit, variables
from finnhub_pipeline.connections import SPARK_CONN_ID
from finnhub_pipeline.dag_defaults import dag_kwargs
from finnhub_pipeline.sensors.spark_health import SparkStreamHealthSensor
from services import contracts

APPLICATION = str(stream_submit.APPLICATION)
CHECKPOINT = variables.SPARK_CHECKPOINT_DIR.template

with DAG(
    dag_id="stream_supervisor",
    schedule="@continuous",
    **dag_kwargs(doc_md=__doc__, extra_tags=("streaming", "spark"), retries=3),
):
    submit_stream = SparkSubmitOperator(
        task_id="submit_stream",
        conn_id=SPARK_CONN_ID,
        application=APPLICATION,
        name=stream_submit.APPLICATION_NAME,
        jars=variables.SPARK_JARS.template,
        conf={
            "spark.executor.memory": variables.SPARK_EXECUTOR_MEMORY.template,
            "spark.driver.memory": variables.SPARK_DRIVER_MEMORY.template,
            "spark.driver.extraJavaOptions": stream_submit.driver_java_options(
                variables.SPARK_DRIVER_MEMORY.template
            ),
        },
        # The job reads its settings from the environment (jobs/spark_stream/settings.py), not argv.
        env_vars={
            "SPARK_STREAM_CHECKPOINT_LOCATION": CHECKPOINT,
            "SPARK_METRICS_PORT": variables.SPARK_METRICS_PORT.template,
            "SPARK_STREAM_TOPIC": contracts.TRADES_TOPIC,
            # Where a job with an empty checkpoint starts: `make reset-checkpoint FROM=...` sets it.
            "SPARK_STREAM_STARTING_OFFSETS": variables.SPARK_STARTING_OFFSETS.template,
            # With ENABLE_SSL the job's principal (Kafka `spark`, Cassandra pipeline_writer): a folder of
            # 0600 files, so no password is ever in a template, an environment variable or a command line.
            "PIPELINE_SECRETS_DIR": variables.SPARK_SECRETS_DIR.template,
        },
        application_args=[],
        retries=8,
        retry_delay=timedelta(seconds=30),
        # A multiplier since Airflow 3.3 (True would mean 1.0: no backoff). Capped at 60 s: try_number only
        # grows within the never-ending continuous run, so after a few kills an uncapped backoff (up to
        # 10 min) would break the promise of a restart within 2 minutes; 8 tries of <= 60 s still spare a
        # crash-looping job, and a fresh run then starts at 30 s again.
        retry_exponential_backoff=2.0,
        max_retry_delay=timedelta(seconds=60),
        execution_timeout=None,
    )
    watch_stream = SparkStreamHealthSensor(
        task_id="watch_stream",
        stream_task_id="submit_stream",
        application=APPLICATION,
        checkpoint=CHECKPOINT,  # only the job this DAG submitted: not a test's or a benchmark's run of it
        stall_minutes=variables.SPARK_STALL_MINUTES.template,
        topic=contracts.TRADES_TOPIC,
        poke_interval=60,
        timeout=timedelta(days=3650).total_seconds(),
        execution_timeout=None,
    )
