#!/usr/bin/env bash
# Backs up a Cassandra keyspace from the shell, exactly as the cassandra_backup DAG does:
#   scripts/backup_cassandra.sh [keyspace] [keep]        (defaults: trading, 7)
# nodetool snapshot -> <backup_dir>/<UTC time>/<table>/ + schema.cql + MANIFEST.sha256 -> clearsnapshot,
# then deletes all but the newest <keep> backups. backup_dir is the connection's `backup_dir` extra
# (var/backups locally); override with BACKUP_DIR. Prints the backup's path and size as JSON.
# The connection is AIRFLOW_CONN_CASSANDRA_DEFAULT, or the local runtime's var/run/airflow/airflow.env.
set -euo pipefail

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" || $# -gt 2 ]]; then
  echo "usage: $0 [keyspace] [keep]   e.g. $0 trading 7" >&2
  exit 2
fi

root="$(cd "$(dirname "$0")/.." && pwd)"
# .venv's Python (or PYTHON): the project is installed there and imports as it is, without PYTHONPATH.
python="${PYTHON:-$root/.venv/bin/python}"
export PATH="$root/deploy/local/bin:$PATH"

run=("$python" -m finnhub_pipeline.cli backup --keyspace "${1:-trading}" --keep "${2:-7}")
if [[ -n "${BACKUP_DIR:-}" ]]; then
  run+=(--backup-dir "$BACKUP_DIR")
fi
if [[ -z "${AIRFLOW_CONN_CASSANDRA_DEFAULT:-}" && -f "$root/var/run/airflow/airflow.env" ]]; then
  exec "$root/deploy/local/bin/with-env" "$root/var/run/airflow/airflow.env" "${run[@]}"
fi
exec "${run[@]}"
