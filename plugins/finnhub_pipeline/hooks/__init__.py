"""Hooks: the only place that holds clients and reads Airflow connections.

Connection ids default to `kafka_default` and `cassandra_default`.
"""
