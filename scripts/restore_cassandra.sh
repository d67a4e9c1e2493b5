#!/usr/bin/env bash
# Restores a Cassandra backup taken by the cassandra_backup DAG (or scripts/backup_cassandra.sh):
#   scripts/restore_cassandra.sh <backup_dir> [target_keyspace]
# Verifies MANIFEST.sha256, creates the keyspace and tables (renamed to target_keyspace if given), loads the
# SSTables with `nodetool import`, and prints row counts as JSON. `make restore BACKUP=... [KEYSPACE=...]`.
# The Cassandra connection is AIRFLOW_CONN_CASSANDRA_DEFAULT; when unset, the local runtime's Airflow
# environment (var/run/airflow/airflow.env, written by `make up`) provides it.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 || "$1" == "-h" || "$1" == "--help" ]]; then
  echo "usage: $0 <backup_dir> [target_keyspace]   e.g. $0 var/backups/20260101T020000Z trading_restored" >&2
  exit 2
fi

root="$(cd "$(dirname "$0")/.." && pwd)"
# .venv's Python (or PYTHON): the project is installed there and imports as it is, without PYTHONPATH.
python="${PYTHON:-$root/.venv/bin/python}"
export PATH="$root/deploy/local/bin:$PATH"

run=("$python" -m finnhub_pipeline.cli restore "$@")
if [[ -z "${AIRFLOW_CONN_CASSANDRA_DEFAULT:-}" && -f "$root/var/run/airflow/airflow.env" ]]; then
  exec "$root/deploy/local/bin/with-env" "$root/var/run/airflow/airflow.env" "${run[@]}"
fi
exec "${run[@]}"
