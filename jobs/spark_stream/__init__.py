"""The Spark Structured Streaming job: Kafka trades -> validated trade rows, dead letters and 1-minute bars in
Cassandra. `main.py` is the spark-submit entry point; README.md explains the design.
"""
