#!/usr/bin/env bash
# docker-compose's Kafka (the CMD of deploy/docker/kafka.Dockerfile), instead of the image's own scripts, which
# can neither format storage with SCRAM users nor take a PEM keystore without a password:
#   1. the configuration: /etc/kafka/pipeline/server.properties plus the broker's SCRAM login per listener,
#      from the compose secret kafka_listener_jaas (written 0600 inside the container only);
#   2. on the first start, the storage formatted with the broker's and admin's SCRAM users (KIP-900), through
#      the Java argument file of the compose secret kafka_format_args: no password on a command line, and the
#      tool's output (which lists the SCRAM records) never reaches the container's log;
#   3. the broker.
# Both secrets are written by `make compose-secrets` (deploy/docker/compose_security.py).
set -euo pipefail

secrets=/run/secrets/kafka
config=/opt/kafka/config/server.properties
data=/var/lib/kafka/data
formatted_secured="$data/.formatted-with-scram-users"

umask 077
cat /etc/kafka/pipeline/server.properties "$secrets/listener-jaas.properties" > "$config"

if [[ ! -e "$data/meta.properties" ]]; then
  # KAFKA_OPTS off: it loads the JMX exporter agent, which is the broker's, not the format tool's.
  if ! KAFKA_OPTS="" /opt/kafka/bin/kafka-run-class.sh "@$secrets/format.args" > /dev/null; then
    echo "kafka: formatting $data failed (the tool's error is above)" >&2
    exit 1
  fi
  touch "$formatted_secured"
elif [[ ! -e "$formatted_secured" ]]; then
  echo "kafka: $data was formatted without SCRAM users (by a plaintext compose stack); see docs/deployment.md, \"Docker Compose\"" >&2
  exit 2
fi

exec /opt/kafka/bin/kafka-server-start.sh "$config"
