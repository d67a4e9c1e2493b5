# syntax=docker/dockerfile:1.7
# Apache Kafka 4.3.1 (the official image, KRaft) with the Prometheus JMX exporter agent, which the
# official image lacks: Prometheus' `kafka` job and the KafkaDown alert read it (monitoring/jmx/kafka.yml).
# Versions: deploy/local/jars/pom.xml (kafka.version 4.3.1, jmx.exporter.version 1.0.1).
FROM apache/kafka:4.3.1

USER root
ADD --checksum=sha256:7d61f737fd661610ccc14aea79764faa1ea94a340cbc8f0029b3d2edea3d80c1 \
    https://repo1.maven.org/maven2/io/prometheus/jmx/jmx_prometheus_javaagent/1.0.1/jmx_prometheus_javaagent-1.0.1.jar \
    /opt/jmx-exporter/jmx_prometheus_javaagent-1.0.1.jar
COPY monitoring/jmx/kafka.yml /opt/jmx-exporter/kafka.yml
# The data directory exists in the image so that a fresh named volume inherits its owner.
RUN chmod 644 /opt/jmx-exporter/* \
    && mkdir -p /var/lib/kafka/data \
    && chown appuser:appuser /var/lib/kafka/data
USER appuser
