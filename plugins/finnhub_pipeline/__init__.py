"""Airflow hooks, operators and sensors that operate the Finnhub trade pipeline (above services and the
Spark job, below the local runtime). Shaped like a provider package: `hooks/` hold the clients,
`operators/` check their arguments and delegate, `sensors/` watch the streaming job; dags/ wires them.
"""
