# syntax=docker/dockerfile:1.7
# Apache Cassandra 5.0.9 (the official image) with the Prometheus JMX exporter agent, which the official
# image lacks (monitoring/jmx/cassandra.yml), the local runtime's commit-log setting, and its security with
# ENABLE_SSL=true (deploy/docker/cassandra/security.yaml: passwords, permissions, client TLS required). The
# key and certificate are not in the image: compose mounts them as secrets under /run/secrets/tls.
# Versions: deploy/local/jars/pom.xml (cassandra.version 5.0.9, jmx.exporter.version 1.0.1).
FROM cassandra:5.0.9

ADD --checksum=sha256:7d61f737fd661610ccc14aea79764faa1ea94a340cbc8f0029b3d2edea3d80c1 \
    https://repo1.maven.org/maven2/io/prometheus/jmx/jmx_prometheus_javaagent/1.0.1/jmx_prometheus_javaagent-1.0.1.jar \
    /opt/jmx-exporter/jmx_prometheus_javaagent-1.0.1.jar
COPY monitoring/jmx/cassandra.yml /opt/jmx-exporter/cassandra.yml
COPY deploy/docker/cassandra/security.yaml /tmp/security.yaml
# The healthcheck: CQL over TLS without a login (security-init creates the roles only once the node is healthy).
COPY --chmod=755 deploy/docker/cassandra/cql_ready.py /usr/local/bin/cql-ready

# Group commit (15 ms window), as deploy/local/cassandra/cassandra.yaml: the default periodic mode
# acknowledges writes up to 10 s before they are fsynced, and a killed node loses them.
RUN chmod 644 /opt/jmx-exporter/* \
    && sed -i -e 's/^commitlog_sync: periodic$/commitlog_sync: group/' \
              -e 's/^commitlog_sync_period: .*$/commitlog_sync_group_window: 15ms/' \
              /etc/cassandra/cassandra.yaml \
    && grep -qx 'commitlog_sync: group' /etc/cassandra/cassandra.yaml \
    && grep -qx 'commitlog_sync_group_window: 15ms' /etc/cassandra/cassandra.yaml \
    && cat /tmp/security.yaml >> /etc/cassandra/cassandra.yaml && rm /tmp/security.yaml \
    && grep -qx 'authenticator: PasswordAuthenticator' /etc/cassandra/cassandra.yaml
