from __future__ import annotations

import json
from pathlib import Path

import pytest

from finnhub_pipeline import backup_manifest, cli


def test_verify_reports_the_files_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "schema.cql").write_text("CREATE KEYSPACE k;")
    backup_manifest.write_manifest(tmp_path)
    assert cli.main(["verify", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out) == {"backup": str(tmp_path), "files_verified": 1}


def test_verify_of_a_damaged_backup_exits_1_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "schema.cql").write_text("CREATE KEYSPACE k;")
    backup_manifest.write_manifest(tmp_path)
    (tmp_path / "schema.cql").write_text("DROP KEYSPACE k;")
    assert cli.main(["verify", str(tmp_path)]) == 1
    assert "BackupVerificationError" in capsys.readouterr().err


def test_restore_needs_a_backup_argument() -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["restore"])
    assert exit_info.value.code == 2
