from __future__ import annotations

import stat
from pathlib import Path

import pytest

from finnhub_pipeline.exceptions import NodetoolError
from finnhub_pipeline.hooks.cassandra_session import NodeAccess
from finnhub_pipeline.hooks.nodetool import NodetoolHook


def fake_nodetool(tmp_path: Path, body: str) -> NodeAccess:
    script = tmp_path / "nodetool"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return NodeAccess(str(script), "10.0.0.5", 7299, None, None)


def test_commands_carry_the_jmx_host_and_port_of_the_connection(tmp_path: Path) -> None:
    hook = NodetoolHook(fake_nodetool(tmp_path, 'echo "$@"'))
    assert (
        hook.run("snapshot", "-t", "tag", "--", "trading").strip()
        == "-h 10.0.0.5 -p 7299 snapshot -t tag -- trading"
    )


def test_a_failing_command_raises_with_its_output(tmp_path: Path) -> None:
    hook = NodetoolHook(fake_nodetool(tmp_path, "echo 'Keyspace nope does not exist' >&2; exit 1"))
    with pytest.raises(
        NodetoolError, match="nodetool compact -- nope t exited 1: Keyspace nope does not exist"
    ):
        hook.compact("nope", "t")


def test_a_missing_binary_raises_naming_it(tmp_path: Path) -> None:
    hook = NodetoolHook(NodeAccess(str(tmp_path / "absent"), "h", 1, None, None))
    with pytest.raises(NodetoolError, match="could not run"):
        hook.flush("trading")
