"""`python -m jobs.spark_stream`: the same job as `spark-submit jobs/spark_stream/main.py`.

Convenient in development; the Kafka connector jars must then come from `PYSPARK_SUBMIT_ARGS` or spark.jars.
"""

from __future__ import annotations

import sys

from jobs.spark_stream.main import main

sys.exit(main())
