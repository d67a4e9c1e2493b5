"""The Spark Structured Streaming job: Kafka trades -> validated trade rows, dead letters and 1-minute bars in
Cassandra, as extract (`sources`) -> transform (`transforms`) -> load (`batch_writer`). `main.py` is the
spark-submit entry point; README.md explains the design.
"""
