"""Hooks: the only place that holds clients and reads Airflow connections; each is a `BaseHook` bound to a
connection id (`finnhub_pipeline.connections`).

`cassandra_default`: `PipelineCassandraHook` (CQL) and `NodetoolHook` (JMX); `kafka_default`:
`KafkaTopicsHook`. `spark_default` is read by the Spark provider's `SparkSubmitOperator` itself.
"""
