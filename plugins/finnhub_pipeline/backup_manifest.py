"""Backup folder layout, SHA-256 manifests, retention and schema rewriting (pure or local-file only).

A backup is `<backup_dir>/<YYYYMMDDTHHMMSSZ>/` holding `<table>/` SSTables, `schema.cql`, `backup.json` and
`MANIFEST.sha256` (`sha256sum` format, so `sha256sum -c MANIFEST.sha256` checks it from a shell too).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from finnhub_pipeline.exceptions import BackupVerificationError

MANIFEST = "MANIFEST.sha256"
SCHEMA = "schema.cql"
METADATA = "backup.json"
BACKUP_NAME = re.compile(r"^\d{8}T\d{6}Z$")
SNAPSHOT_EXTRAS = frozenset({"manifest.json", "schema.cql"})
"""Files Cassandra writes into a snapshot beside the SSTables; kept in the backup, never imported."""


def backup_name(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(backup: Path) -> int:
    """Hashes every file under `backup` (except the manifest) into MANIFEST.sha256; returns the count."""
    files = sorted(p for p in backup.rglob("*") if p.is_file() and p.name != MANIFEST)
    lines = [f"{sha256_file(path)}  {path.relative_to(backup).as_posix()}" for path in files]
    (backup / MANIFEST).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


def verify_manifest(backup: Path) -> int:
    """Checks every file against MANIFEST.sha256 and that no file was added; returns the count checked."""
    manifest = backup / MANIFEST
    if not manifest.is_file():
        raise BackupVerificationError(f"backup {backup}: {MANIFEST} is missing (incomplete backup?)")
    expected: dict[str, str] = {}
    for number, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        digest, separator, relative = line.partition("  ")
        if not separator or len(digest) != 64:
            raise BackupVerificationError(f"backup {backup}: {MANIFEST} line {number} is malformed: {line!r}")
        expected[relative] = digest
    problems: list[str] = []
    for relative, digest in sorted(expected.items()):
        path = backup / relative
        if not path.is_file():
            problems.append(f"{relative}: missing")
        elif sha256_file(path) != digest:
            problems.append(f"{relative}: checksum differs from the manifest")
    present = {
        p.relative_to(backup).as_posix() for p in backup.rglob("*") if p.is_file() and p.name != MANIFEST
    }
    problems.extend(f"{relative}: not in the manifest" for relative in sorted(present - set(expected)))
    if problems:
        raise BackupVerificationError(f"backup {backup} failed verification:\n  " + "\n  ".join(problems))
    return len(expected)


def backups_to_delete(names: Iterable[str], keep: int) -> list[str]:
    """The backup folders beyond the newest `keep` (names sort by time); other folders are never touched."""
    if keep < 1:
        raise ValueError(f"keep must be >= 1 (the newest backup is never deleted), got {keep}")
    backups = sorted((name for name in names if BACKUP_NAME.match(name)), reverse=True)
    return sorted(backups[keep:])


def table_of_data_dir(directory_name: str) -> str:
    """`trades_v2-6f1c...` (Cassandra's table directory) -> `trades_v2`."""
    name, _, table_id = directory_name.rpartition("-")
    if not name or not re.fullmatch(r"[0-9a-f]{32}", table_id):
        raise ValueError(f"{directory_name!r} is not a Cassandra table directory (<table>-<32 hex id>)")
    return name


def schema_statements(schema: str, source_keyspace: str, target_keyspace: str) -> list[str]:
    """`export_as_string()` output as single statements, renamed to `target_keyspace`, made idempotent.

    The export separates statements by blank lines, each ending in `;`.
    """
    statements: list[str] = []
    for chunk in re.split(r";\s*\n\s*\n", schema.strip() + "\n\n"):
        statement = chunk.strip().rstrip(";").strip()
        if not statement:
            continue
        statement = re.sub(
            rf"^CREATE KEYSPACE {re.escape(source_keyspace)}\b",
            f"CREATE KEYSPACE IF NOT EXISTS {target_keyspace}",
            statement,
        )
        statement = re.sub(
            rf"^CREATE (TABLE|TYPE|INDEX|CUSTOM INDEX|MATERIALIZED VIEW) (\w+ ON )?"
            rf"{re.escape(source_keyspace)}\.",
            lambda m: f"CREATE {m.group(1)} IF NOT EXISTS {m.group(2) or ''}{target_keyspace}.",
            statement,
        )
        statement = re.sub(rf"(?<![\w.]){re.escape(source_keyspace)}\.", f"{target_keyspace}.", statement)
        statements.append(statement)
    return statements
