"""Cassandra of the local runtime: a row's round trip, nodetool, survival of a kill -9."""

from __future__ import annotations

import os
import signal
from typing import Any

from stack.settings import RuntimeSettings
from stack.supervisor import Supervisor
from testkit.runtime import run_stack
from testkit.waiting import eventually


def create_table(session: Any, keyspace: str) -> None:
    session.execute(
        f"CREATE KEYSPACE IF NOT EXISTS {keyspace} "
        "WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    session.execute(f"CREATE TABLE IF NOT EXISTS {keyspace}.quotes (symbol text PRIMARY KEY, price double)")


def test_row_round_trips_through_a_new_table(cassandra_session: Any, unique_name: str) -> None:
    create_table(cassandra_session, unique_name)
    cassandra_session.execute(f"INSERT INTO {unique_name}.quotes (symbol, price) VALUES ('AAPL', 284.45)")

    rows = list(cassandra_session.execute(f"SELECT symbol, price FROM {unique_name}.quotes"))

    assert [(row.symbol, row.price) for row in rows] == [("AAPL", 284.45)]


def test_nodetool_status_shows_the_node_up_and_normal(runtime: RuntimeSettings) -> None:
    result = run_stack("nodetool", "status", timeout_s=120)

    assert result.returncode == 0, result.stderr
    node_lines = [line for line in result.stdout.splitlines() if "127.0.0.1" in line]
    assert node_lines and node_lines[0].startswith("UN "), result.stdout


def test_cassandra_killed_with_sigkill_is_restarted_and_keeps_its_rows(
    runtime: RuntimeSettings, supervisor: Supervisor, cassandra_session: Any, unique_name: str
) -> None:
    create_table(cassandra_session, unique_name)
    cassandra_session.execute(f"INSERT INTO {unique_name}.quotes (symbol, price) VALUES ('TSLA', 122.09)")
    old_pid = supervisor.programs()["cassandra"].pid

    os.kill(old_pid, signal.SIGKILL)

    eventually(
        lambda: supervisor.programs()["cassandra"].pid not in (0, old_pid),
        60,
        what="supervisor restarted cassandra",
    )
    assert run_stack("wait", "cassandra").returncode == 0

    def rows() -> list[tuple[str, float]]:
        return [(r.symbol, r.price) for r in cassandra_session.execute(f"SELECT * FROM {unique_name}.quotes")]

    assert eventually(rows, 60, what="the row is readable after the restart") == [("TSLA", 122.09)]
