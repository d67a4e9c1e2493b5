"""Harnesses shared by the integration tests and the benchmarks: topics, keyspaces, producer and Spark job
runs against the real local runtime. Neither imports the other; both import this.
"""
