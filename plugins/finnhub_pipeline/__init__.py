"""Airflow hooks, operators and sensors that operate the Finnhub trade pipeline.

Shaped like a provider package: `hooks/` own the Kafka, Cassandra, nodetool and Spark clients, `operators/`
check their arguments and delegate to hooks, `sensors/` watch the streaming job. The DAGs in dags/ wire them.
"""
