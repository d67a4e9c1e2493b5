"""Command-line entry points for operators at a shell: `python -m finnhub_pipeline.cli backup|restore`.

scripts/backup_cassandra.sh and scripts/restore_cassandra.sh (and `make restore`) call these; they use the
DAGs' `KeyspaceBackup` and `cassandra_default` connection (AIRFLOW_CONN_CASSANDRA_DEFAULT).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from finnhub_pipeline.connections import CASSANDRA_CONN_ID
from finnhub_pipeline.exceptions import PipelineOperationError
from services import contracts


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m finnhub_pipeline.cli", description=__doc__)
    parser.add_argument(
        "--conn-id", default=CASSANDRA_CONN_ID, help="Airflow connection id (from AIRFLOW_CONN_*)"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    backup = commands.add_parser("backup", help="snapshot a keyspace into <backup_dir>/<UTC time>/")
    backup.add_argument("--keyspace", default=contracts.KEYSPACE)
    backup.add_argument("--keep", type=int, default=7, help="backups to keep (older ones are deleted)")
    backup.add_argument("--backup-dir", type=Path, help="default: the connection's backup_dir extra")

    restore = commands.add_parser("restore", help="verify a backup and load it into a keyspace")
    restore.add_argument("backup", type=Path, help="a backup folder, e.g. var/backups/20260101T020000Z")
    restore.add_argument("target_keyspace", nargs="?", help="default: the keyspace the backup was taken of")

    verify = commands.add_parser("verify", help="check a backup's files against its manifest only")
    verify.add_argument("backup", type=Path)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Imported here so `--help` answers without loading Airflow; Airflow may log while it loads, and stdout
    # is kept for the JSON result alone.
    with contextlib.redirect_stdout(sys.stderr):
        from finnhub_pipeline import backup_manifest
        from finnhub_pipeline.backup import KeyspaceBackup
        from finnhub_pipeline.hooks.cassandra import PipelineCassandraHook

    # After Airflow's import set up its own logging: progress goes to stderr, stdout carries only the JSON.
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
        force=True,
    )

    try:
        if args.command == "verify":
            print(
                json.dumps(
                    {
                        "backup": str(args.backup),
                        "files_verified": backup_manifest.verify_manifest(args.backup),
                    }
                )
            )
            return 0
        with PipelineCassandraHook(args.conn_id) as cassandra:
            if args.command == "backup":
                backup = KeyspaceBackup(cassandra, backup_dir=args.backup_dir)
                print(json.dumps(backup.backup(args.keyspace, args.keep).as_dict(), indent=2))
            else:
                if args.target_keyspace is not None and not args.target_keyspace.isidentifier():
                    print(
                        f"error: target keyspace {args.target_keyspace!r} is not a CQL identifier",
                        file=sys.stderr,
                    )
                    return 2
                backup_dir = args.backup.resolve().parent
                backup = KeyspaceBackup(cassandra, backup_dir=backup_dir)
                print(json.dumps(backup.restore(args.backup.resolve(), args.target_keyspace), indent=2))
    except PipelineOperationError as error:
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
