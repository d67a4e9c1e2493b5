"""Passwords: generated once into one 0600 file, or taken from the environment; never widely readable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stack import credentials


def test_first_use_generates_every_password_into_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "passwords.json"
    first = credentials.passwords(path, environ={})
    assert set(first) == {principal.key for principal in credentials.PRINCIPALS}
    assert len(set(first.values())) == len(first) and all(len(p) >= 32 for p in first.values())
    assert path.stat().st_mode & 0o777 == 0o600
    assert credentials.passwords(path, environ={}) == first  # kept, not regenerated


def test_the_environment_wins_and_is_not_written_down(tmp_path: Path) -> None:
    path = tmp_path / "passwords.json"
    chosen = credentials.passwords(path, environ={"KAFKA_PRODUCER_PASSWORD": "from-the-vault"})
    assert chosen["kafka_producer"] == "from-the-vault"
    assert "from-the-vault" not in path.read_text()


def test_a_password_file_readable_by_others_stops_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "passwords.json"
    credentials.passwords(path, environ={})
    path.chmod(0o644)
    with pytest.raises(credentials.CredentialsError, match=r"passwords\.json: .*readable by others"):
        credentials.passwords(path, environ={})


def test_a_password_with_a_quote_is_refused_naming_its_variable(tmp_path: Path) -> None:
    with pytest.raises(credentials.CredentialsError, match="CASSANDRA_WRITER_PASSWORD"):
        credentials.passwords(tmp_path / "p.json", environ={"CASSANDRA_WRITER_PASSWORD": 'a"b'})


def test_a_secret_folder_holds_exactly_its_files_privately(tmp_path: Path) -> None:
    folder = tmp_path / "spark"
    (folder).mkdir()
    (folder / "stale").write_text("old")
    credentials.write_secret_folder(folder, {"kafka_sasl_password": "x", "cassandra_password": "y"})
    assert sorted(p.name for p in folder.iterdir()) == ["cassandra_password", "kafka_sasl_password"]
    assert folder.stat().st_mode & 0o777 == 0o700
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in folder.iterdir())
    assert json.dumps((folder / "cassandra_password").read_text()) == '"y"'
