# Airflow 3.3.2 with the pipeline's DAGs, plugins and packages, plus Java 17 and the Spark-Kafka jars:
# the stream_supervisor DAG runs spark-submit (client mode) from the scheduler container.
# Build from the repository root:  docker build -f deploy/docker/airflow.Dockerfile -t finnhub-pipeline/airflow .
FROM apache/airflow:3.3.2-python3.11

USER root
# Java 17 for spark-submit and the Spark driver.
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/* \
    && ln -s "/usr/lib/jvm/java-17-openjdk-$(dpkg --print-architecture)" /usr/lib/jvm/java-17
ENV JAVA_HOME=/usr/lib/jvm/java-17

# The Kafka source and its own dependencies, the same four jars the local runtime passes to spark-submit
# (deploy/local/jars/spark-kafka resolves them); the other jars it needs are already in pyspark's jars/.
ARG MAVEN=https://repo1.maven.org/maven2
RUN mkdir -p /opt/spark-kafka && cd /opt/spark-kafka \
    && curl -fsSLO "$MAVEN/org/apache/spark/spark-sql-kafka-0-10_2.13/4.2.0/spark-sql-kafka-0-10_2.13-4.2.0.jar" \
    && curl -fsSLO "$MAVEN/org/apache/spark/spark-token-provider-kafka-0-10_2.13/4.2.0/spark-token-provider-kafka-0-10_2.13-4.2.0.jar" \
    && curl -fsSLO "$MAVEN/org/apache/kafka/kafka-clients/3.9.2/kafka-clients-3.9.2.jar" \
    && curl -fsSLO "$MAVEN/org/apache/commons/commons-pool2/2.13.1/commons-pool2-2.13.1.jar" \
    && printf '%s\n' \
       "64539c45e5d39f7ddb747312c239f38f5208d08c1a0ddf7d70beb2fbd9373705  spark-sql-kafka-0-10_2.13-4.2.0.jar" \
       "641c7947afc8aa1189e433b7c2d305293993c8691bc1c2062d6d4f513b12518c  spark-token-provider-kafka-0-10_2.13-4.2.0.jar" \
       "014b4ef36884478a932641818b080c36a8f8e2e92dc771e800c9d2694f4f83d8  kafka-clients-3.9.2.jar" \
       "f77a5060d6936a9144023584232f9de3f2248f1abfe156e9d31795f18770674f  commons-pool2-2.13.1.jar" \
       | sha256sum -c -

# The repository's code: the DAGs, the migrations they apply, and the packages installed below.
COPY --chown=airflow:root services/ /opt/pipeline/services/
COPY --chown=airflow:root jobs/ /opt/pipeline/jobs/
COPY --chown=airflow:root dags/ /opt/pipeline/dags/
COPY --chown=airflow:root plugins/ /opt/pipeline/plugins/
COPY --chown=airflow:root sql/ /opt/pipeline/sql/
# docker-compose's one-shot security set-up (security-init, pipeline-bootstrap's grants) runs the local
# runtime's own code for Kafka users, ACLs and Cassandra roles: those modules of the `stack` package only,
# and the script. No secret is copied: compose mounts them at run time.
COPY --chown=airflow:root deploy/local/stack/__init__.py deploy/local/stack/credentials.py \
     deploy/local/stack/pki.py deploy/local/stack/security.py deploy/local/stack/kafka_security.py \
     deploy/local/stack/cassandra_security.py /opt/pipeline/deploy/local/stack/
COPY --chown=airflow:root deploy/docker/compose_security.py /opt/pipeline/deploy/docker/compose_security.py
# Checkpoints live under var/ (a volume in docker-compose.yaml), writable by the airflow user.
RUN mkdir -p /opt/pipeline/var/checkpoints && chown -R airflow:root /opt/pipeline/var

USER airflow
# Every package of requirements.txt, every transitive one pinned by deploy/constraints.txt. apache-airflow
# is pinned there to the base image's 3.3.2, so pip keeps it.
COPY requirements.txt deploy/constraints.txt /tmp/pins/
RUN pip install --no-cache-dir -r /tmp/pins/requirements.txt -c /tmp/pins/constraints.txt
# The project's own package (pyproject.toml: services, jobs, finnhub_pipeline from plugins/, the stack modules
# above), not a PYTHONPATH; the DAGs stay in /opt/pipeline/dags for the dag-processor.
COPY --chown=airflow:root pyproject.toml /opt/pipeline/
RUN pip install --no-cache-dir --no-deps /opt/pipeline

ENV AIRFLOW__CORE__DAGS_FOLDER=/opt/pipeline/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/pipeline/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    AIRFLOW_VAR_SPARK_JARS=/opt/spark-kafka/spark-sql-kafka-0-10_2.13-4.2.0.jar,/opt/spark-kafka/spark-token-provider-kafka-0-10_2.13-4.2.0.jar,/opt/spark-kafka/kafka-clients-3.9.2.jar,/opt/spark-kafka/commons-pool2-2.13.1.jar \
    AIRFLOW_VAR_SPARK_CHECKPOINT_DIR=/opt/pipeline/var/checkpoints/spark_stream
