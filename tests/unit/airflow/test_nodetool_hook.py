from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from finnhub_pipeline.exceptions import NodetoolError
from finnhub_pipeline.hooks.nodetool import NodetoolHook

CONN_ID = "cassandra_under_test"


def connection(monkeypatch: pytest.MonkeyPatch, **extra: object) -> None:
    """`cassandra_under_test` as the local runtime writes a Cassandra connection (AIRFLOW_CONN_* JSON)."""
    document = {"conn_type": "cassandra", "host": "10.0.0.5,10.0.0.6", "port": 9042, "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(document))


def fake_nodetool(tmp_path: Path, body: str) -> str:
    script = tmp_path / "nodetool"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_commands_carry_the_jmx_host_and_port_of_the_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection(monkeypatch, nodetool=fake_nodetool(tmp_path, 'echo "$@"'), jmx_port=7299)
    hook = NodetoolHook(CONN_ID)
    assert (
        hook.run("snapshot", "-t", "tag", "--", "trading").strip()
        == "-h 10.0.0.5 -p 7299 snapshot -t tag -- trading"
    )


def test_an_explicit_jmx_host_wins_over_the_first_contact_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection(monkeypatch, nodetool=fake_nodetool(tmp_path, 'echo "$@"'), jmx_host="10.0.0.9")
    assert NodetoolHook(CONN_ID).run("status").strip() == "-h 10.0.0.9 -p 7199 status"


def test_a_failing_command_raises_with_its_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    connection(
        monkeypatch, nodetool=fake_nodetool(tmp_path, "echo 'Keyspace nope does not exist' >&2; exit 1")
    )
    hook = NodetoolHook(CONN_ID)
    with pytest.raises(
        NodetoolError, match="nodetool compact -- nope t exited 1: Keyspace nope does not exist"
    ):
        hook.compact("nope", "t")


def test_a_missing_binary_raises_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    connection(monkeypatch, nodetool=str(tmp_path / "absent"))
    hook = NodetoolHook(CONN_ID)
    with pytest.raises(NodetoolError, match="could not run"):
        hook.flush("trading")
