"""The pure half of the CQL migration runner: find, render, checksum and plan `sql/cql/V<NNN>__<name>.cql`.

`migrations.py` applies the plan to Cassandra; everything here is tested without a database.
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from finnhub_pipeline.exceptions import MigrationChecksumError, MigrationError
from services import contracts, layout

MIGRATIONS_DIR: Final = layout.ROOT / "sql" / "cql"
"""The migrations of the checkout, which pipeline_bootstrap applies."""
MIGRATION_FILE = re.compile(r"^V(?P<version>\d+)__(?P<name>[A-Za-z0-9_]+)\.cql$")


@dataclass(frozen=True)
class Migration:
    """One migration file: its version, name, text as in the repository, and that text's SHA-256."""

    version: int
    name: str
    path: Path
    text: str

    @property
    def filename(self) -> str:
        return self.path.name

    @property
    def checksum(self) -> str:
        return checksum(self.text)


@dataclass(frozen=True)
class AppliedMigration:
    """A row of `<keyspace>.schema_migrations`."""

    version: int
    filename: str
    checksum: str


def checksum(text: str) -> str:
    """SHA-256 of the file's text with line endings normalised, so a checkout on Windows agrees."""
    return hashlib.sha256(text.replace("\r\n", "\n").encode("utf-8")).hexdigest()


def discover(directory: Path) -> list[Migration]:
    """Every `V<NNN>__<name>.cql` under `directory`, in version order (numeric, not lexical)."""
    if not directory.is_dir():
        raise MigrationError(f"migrations directory {directory} does not exist")
    migrations: list[Migration] = []
    seen: dict[int, str] = {}
    for path in directory.iterdir():
        match = MIGRATION_FILE.match(path.name)
        if not path.is_file() or match is None:
            continue
        version = int(match["version"])
        if version in seen:
            raise MigrationError(f"two migrations share version {version}: {seen[version]} and {path.name}")
        seen[version] = path.name
        migrations.append(Migration(version, match["name"], path, path.read_text(encoding="utf-8")))
    return sorted(migrations, key=lambda migration: migration.version)


def render(migration: Migration, replication_factor: int, keyspace: str = contracts.KEYSPACE) -> str:
    """The statement to send: `${replication_factor}` filled, and the keyspace renamed when asked.

    Renaming lets the same files build a throw-away keyspace in tests; the files name `trading` itself.
    """
    try:
        text = string.Template(migration.text).substitute(replication_factor=replication_factor)
    except (KeyError, ValueError) as error:
        raise MigrationError(f"{migration.filename}: cannot fill placeholders: {error!r}") from error
    if keyspace != contracts.KEYSPACE:
        text = rename_keyspace(text, contracts.KEYSPACE, keyspace)
    return text


def rename_keyspace(cql: str, old: str, new: str) -> str:
    """Rewrites `CREATE KEYSPACE [IF NOT EXISTS] old` and every `old.<name>` qualifier to `new`."""
    cql = re.sub(
        rf"(?i)(\bKEYSPACE\s+(?:IF\s+NOT\s+EXISTS\s+)?)\"?{re.escape(old)}\"?(?=[\s;]|$)",
        lambda match: f"{match.group(1)}{new}",
        cql,
    )
    return re.sub(rf"(?<![\w.]){re.escape(old)}\.(?=\"?\w)", f"{new}.", cql)


def pending(migrations: Iterable[Migration], applied: Mapping[int, AppliedMigration]) -> list[Migration]:
    """Migrations not yet applied, in order; fails readably if an applied one was changed or removed."""
    by_version = {migration.version: migration for migration in migrations}
    problems: list[str] = []
    for version, record in sorted(applied.items()):
        migration = by_version.get(version)
        if migration is None:
            problems.append(f"V{version:03d} ({record.filename}) was applied but its file is gone")
        elif migration.checksum != record.checksum:
            problems.append(
                f"{migration.filename} changed after it was applied "
                f"(recorded sha256 {record.checksum[:12]}…, file now {migration.checksum[:12]}…); "
                "add a new V<NNN> migration instead of editing an applied one"
            )
    if problems:
        raise MigrationChecksumError("applied migrations do not match sql/cql:\n  " + "\n  ".join(problems))
    return [migration for version, migration in sorted(by_version.items()) if version not in applied]
