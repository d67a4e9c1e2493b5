# syntax=docker/dockerfile:1.7
# Spark 4.2.0 standalone master and worker for the streaming job (jobs/spark_stream).
# Airflow's stream_supervisor submits the job in client mode: the driver runs in the Airflow scheduler
# container and the executors run here, so this image carries the job's code and Python packages too.
# Build from the repository root:  docker build -f deploy/docker/spark-stream.Dockerfile -t finnhub-pipeline/spark-stream .
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    JAVA_HOME=/usr/lib/jvm/java-17 \
    SPARK_NO_DAEMONIZE=1

# Java 17: Spark 4 needs 17 or newer, and 17 is what the local runtime runs. procps: Spark's scripts call ps.
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless procps \
    && rm -rf /var/lib/apt/lists/* \
    && ln -s "/usr/lib/jvm/java-17-openjdk-$(dpkg --print-architecture)" /usr/lib/jvm/java-17 \
    && test -x "$JAVA_HOME/bin/java"

WORKDIR /opt/pipeline

# pyspark and what the job imports (pyarrow for the batch's rows, cassandra-driver for the sink), at
# requirements.txt's versions.
COPY requirements.txt deploy/constraints.txt /tmp/pins/
RUN grep -E '^(pyspark|pyarrow|cassandra-driver|prometheus-client|pydantic-settings|orjson)==' \
        /tmp/pins/requirements.txt > /tmp/pins/spark.txt \
    && test "$(wc -l < /tmp/pins/spark.txt)" -eq 6 \
    && pip install -r /tmp/pins/spark.txt -c /tmp/pins/constraints.txt \
    && rm -rf /tmp/pins

# The project's own package (pyproject.toml), not a PYTHONPATH: services/ and jobs/ are what the driver and
# the executors' Python workers import; their dependencies are the pinned ones above.
COPY pyproject.toml /opt/pipeline/
COPY services/ /opt/pipeline/services/
COPY jobs/ /opt/pipeline/jobs/
RUN pip install --no-deps /opt/pipeline

# The Kafka source and its own dependencies (as deploy/local/jars/spark-kafka resolves them), for running
# the job's driver in this image (kubernetes/spark-stream.yaml); the other jars are in pyspark's jars/.
ARG MAVEN=https://repo1.maven.org/maven2
ADD --checksum=sha256:64539c45e5d39f7ddb747312c239f38f5208d08c1a0ddf7d70beb2fbd9373705 \
    $MAVEN/org/apache/spark/spark-sql-kafka-0-10_2.13/4.2.0/spark-sql-kafka-0-10_2.13-4.2.0.jar /opt/spark-kafka/
ADD --checksum=sha256:641c7947afc8aa1189e433b7c2d305293993c8691bc1c2062d6d4f513b12518c \
    $MAVEN/org/apache/spark/spark-token-provider-kafka-0-10_2.13/4.2.0/spark-token-provider-kafka-0-10_2.13-4.2.0.jar /opt/spark-kafka/
ADD --checksum=sha256:014b4ef36884478a932641818b080c36a8f8e2e92dc771e800c9d2694f4f83d8 \
    $MAVEN/org/apache/kafka/kafka-clients/3.9.2/kafka-clients-3.9.2.jar /opt/spark-kafka/
ADD --checksum=sha256:f77a5060d6936a9144023584232f9de3f2248f1abfe156e9d31795f18770674f \
    $MAVEN/org/apache/commons/commons-pool2/2.13.1/commons-pool2-2.13.1.jar /opt/spark-kafka/

RUN useradd --uid 10002 --create-home --shell /usr/sbin/nologin spark \
    && chmod 644 /opt/spark-kafka/*.jar \
    && mkdir -p /opt/spark/work /opt/spark/checkpoints \
    && chown spark:spark /opt/spark/work /opt/spark/checkpoints
USER 10002

# 7077: master RPC; 8080: master web UI; 8081: worker web UI.
EXPOSE 7077 8080 8081
# The compose file runs `spark-class org.apache.spark.deploy.master.Master ...` or `... worker.Worker ...`.
ENTRYPOINT ["spark-class"]
