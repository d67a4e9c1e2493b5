"""The secured runtime's principals and their passwords: who may do what, and where the passwords live.

Passwords are generated on the first secured start and kept in one 0600 file (var/secrets/passwords.json),
or taken from the environment when set there (`<PRINCIPAL>_PASSWORD`, e.g. KAFKA_PRODUCER_PASSWORD). They
reach programs only through 0600 files (secret folders read via PIPELINE_SECRETS_DIR, 0600 env files), never
a command line, a log line, a metric or an Airflow template.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

PASSWORD_BYTES: Final = 24
"""token_urlsafe(24): 32 characters of [A-Za-z0-9_-], about 192 bits; no character that needs quoting."""


class CredentialsError(Exception):
    """The password file or a password is unusable; the message names the file or the variable."""


@dataclass(frozen=True)
class Principal:
    """A user of Kafka (SCRAM) or a role of Cassandra, and what it is for."""

    key: str
    """Its entry in passwords.json, and the prefix of its environment variable."""
    username: str
    purpose: str

    @property
    def environment_variable(self) -> str:
        return f"{self.key.upper()}_PASSWORD"


KAFKA_BROKER: Final = Principal(
    "kafka_broker", "broker", "the broker's own SCRAM login on its SASL_SSL listener"
)
KAFKA_ADMIN: Final = Principal(
    "kafka_admin",
    "admin",
    "manages topics and ACLs: Airflow's bootstrap, the operations tools, health checks",
)
KAFKA_PRODUCER: Final = Principal(
    "kafka_producer", "producer", "writes the trades and dead-letter topics, nothing else"
)
KAFKA_SPARK: Final = Principal("kafka_spark", "spark", "reads the trades topic, writes dead letters")
CASSANDRA_ADMIN: Final = Principal(
    "cassandra_admin",
    "pipeline_admin",
    "the superuser that replaces `cassandra`: migrations, backups, compaction, the TTL audit, operations",
)
CASSANDRA_WRITER: Final = Principal(
    "cassandra_writer", "pipeline_writer", "the Spark job: reads and writes the trading keyspace's tables"
)
CASSANDRA_READER: Final = Principal(
    "cassandra_reader", "pipeline_reader", "analysts and dashboards: reads the trading keyspace only"
)
PRINCIPALS: Final = (
    KAFKA_BROKER,
    KAFKA_ADMIN,
    KAFKA_PRODUCER,
    KAFKA_SPARK,
    CASSANDRA_ADMIN,
    CASSANDRA_WRITER,
    CASSANDRA_READER,
)


def passwords(path: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every principal's password: from the environment when set there, else from `path`, else generated
    and added to `path` (created 0600). Raises CredentialsError when `path` is readable by others or is not
    a JSON object of strings."""
    environment = os.environ if environ is None else environ
    stored = _read(path)
    missing = [p for p in PRINCIPALS if p.key not in stored and not environment.get(p.environment_variable)]
    if missing:
        stored |= {principal.key: secrets.token_urlsafe(PASSWORD_BYTES) for principal in missing}
        _write(path, stored)
    result = {}
    for principal in PRINCIPALS:
        value = environment.get(principal.environment_variable) or stored[principal.key]
        if any(c in value for c in '"\\') or not value.isprintable():
            raise CredentialsError(
                f"{principal.environment_variable}: must be printable, with no quote or backslash"
            )
        result[principal.key] = value
    return result


def write_secret_folder(folder: Path, files: Mapping[str, str]) -> Path:
    """A 0700 folder of 0600 files, one value each (what PIPELINE_SECRETS_DIR points a program at); files
    not in `files` are removed, so a principal's folder holds exactly its own secrets."""
    private_folder(folder)
    for stale in set(folder.iterdir()) - {folder / name for name in files}:
        stale.unlink()
    for name, value in files.items():
        write_private(folder / name, value)
    return folder


def _read(path: Path) -> dict[str, str]:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return {}
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CredentialsError(
            f"{path}: holds passwords but is readable by others (mode {mode & 0o777:o}); chmod 600"
        )
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CredentialsError(f"{path}: not a readable JSON file ({error})") from None
    if not isinstance(document, dict) or not all(isinstance(v, str) for v in document.values()):
        raise CredentialsError(f"{path}: must be a JSON object of principal -> password strings")
    return dict(document)


def _write(path: Path, document: Mapping[str, str]) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_private(path, json.dumps(dict(document), indent=2, sort_keys=True) + "\n")


def private_folder(folder: Path) -> Path:
    """`folder` (and any missing parent) created, and made 0700 even when it already existed."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    return folder


def write_private(path: Path, text: str) -> None:
    """Writes `text` to `path` with mode 0600 (unchanged content keeps its mtime)."""
    if path.exists() and path.read_text(encoding="utf-8") == text and not path.stat().st_mode & 0o077:
        return  # unchanged: keep the mtime, so nothing restarts for it
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(text)
    path.chmod(0o600)
