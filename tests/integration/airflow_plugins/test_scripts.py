"""scripts/backup_cassandra.sh and scripts/restore_cassandra.sh, run as an operator would from a shell."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]


def run(script: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts" / script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_backup_script_then_restore_script_copy_a_keyspace(
    fresh_keyspace: Callable[[str], str], cassandra_session: Any, tmp_path: Path
) -> None:
    source, target = fresh_keyspace("src"), fresh_keyspace("dst")
    cassandra_session.execute(
        f"CREATE KEYSPACE {source} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
    )
    cassandra_session.execute(
        f"CREATE TABLE {source}.bars (symbol text, minute int, close double, PRIMARY KEY (symbol, minute))"
    )
    for minute in range(40):
        cassandra_session.execute(
            f"INSERT INTO {source}.bars (symbol, minute, close) VALUES ('X', {minute}, 1.5)"
        )
    env = {**os.environ, "BACKUP_DIR": str(tmp_path)}  # AIRFLOW_CONN_* come from the autouse fixture

    backup = run("backup_cassandra.sh", source, "2", env=env)
    assert backup.returncode == 0, backup.stderr[-2000:]
    path = json.loads(backup.stdout)["path"]

    restore = run("restore_cassandra.sh", path, target, env=env)
    assert restore.returncode == 0, restore.stderr[-2000:]
    assert json.loads(restore.stdout)["row_counts"] == {"bars": 40}


def test_restore_script_without_arguments_prints_usage() -> None:
    result = run("restore_cassandra.sh", env=dict(os.environ))
    assert result.returncode == 2
    assert "usage:" in result.stderr
