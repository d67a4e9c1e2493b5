# syntax=docker/dockerfile:1.7
# Apache Kafka 4.3.1 (the official image, KRaft) with the Prometheus JMX exporter agent, which the
# official image lacks: Prometheus' `kafka` job and the KafkaDown alert read it (monitoring/jmx/kafka.yml).
# Versions: deploy/local/jars/pom.xml (kafka.version 4.3.1, jmx.exporter.version 1.0.1).
# Secured (SASL_SSL, mutual TLS to the controller, ACLs): deploy/docker/kafka/server.properties, started by
# deploy/docker/kafka/start.sh. No certificate or password is in the image: compose mounts them as secrets.
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
COPY --chmod=644 deploy/docker/kafka/server.properties /etc/kafka/pipeline/server.properties
COPY --chmod=755 deploy/docker/kafka/start.sh /etc/kafka/pipeline/start.sh
USER appuser
CMD ["/etc/kafka/pipeline/start.sh"]
