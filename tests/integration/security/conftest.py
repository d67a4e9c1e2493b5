"""The secured runtime for the security tests: the running stack switched to ENABLE_SSL=true (and back).

These tests run last in a session (tests/integration/conftest.py orders them). A plaintext stack is switched
with `stack up` under ENABLE_SSL=true, the same path a user takes; its data is counted before and checked
after. After the last of them (package scope) it is switched back to plaintext and checked again, so `make
test` leaves the stack in the mode `.env` says. A stack already secured (ENABLE_SSL=true in `.env`) is used
as it is.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from cassandra.query import SimpleStatement

from services import contracts
from services.cassandra_session import cassandra_session
from stack import credentials, security
from stack.settings import RuntimeSettings
from testkit.kafka import end_offsets
from testkit.runtime import run_stack


@dataclass(frozen=True)
class DataCount:
    trades_rows: int
    trades_records: int


@dataclass(frozen=True)
class SecuredRuntime:
    settings: RuntimeSettings
    passwords: dict[str, str]
    before_switch: DataCount | None
    """What the plaintext stack held before the switch (None: it was secured already)."""


def count_data(settings: RuntimeSettings) -> DataCount:
    """Rows of trades_v2 and records of the trades topic. The rows are counted page by page: one
    `count(*)` over the whole table is a single range request that a node just restarted (the switch) under
    the catching-up job may not finish within its 10 s range timeout (it failed CI once that way)."""
    session = cassandra_session(settings.cassandra_connection())
    try:
        every_row = SimpleStatement(
            f"SELECT trade_id FROM {contracts.KEYSPACE}.{contracts.TRADES_TABLE}", fetch_size=5000
        )
        trades_rows = sum(1 for _ in session.execute(every_row, timeout=120))
    finally:
        session.cluster.shutdown()
    return DataCount(trades_rows, end_offsets(settings.kafka_connection(), contracts.TRADES_TOPIC))


def _up(settings_env: dict[str, str]) -> None:
    result = run_stack("up", timeout_s=1200)
    if result.returncode != 0:
        pytest.fail(f"`stack up` ({settings_env}) failed:\n{result.stdout}\n{result.stderr}", pytrace=False)


@pytest.fixture(scope="package")
def secured(runtime: RuntimeSettings) -> Iterator[SecuredRuntime]:
    before = count_data(runtime) if not runtime.enable_ssl else None
    previous = os.environ.get("ENABLE_SSL")
    os.environ["ENABLE_SSL"] = "true"  # wins over .env, for `stack up` and for the settings read here
    try:
        _up({"ENABLE_SSL": "true"})
        settings = RuntimeSettings.load()
        passwords = security.passwords(settings)
        assert passwords is not None
        yield SecuredRuntime(settings, passwords, before)
    finally:
        if previous is None:
            os.environ.pop("ENABLE_SSL", None)
        else:
            os.environ["ENABLE_SSL"] = previous
    if before is not None:
        secured_count = count_data(settings)
        _up({"ENABLE_SSL": previous or "(.env)"})
        back = RuntimeSettings.load()
        after = count_data(back)
        # Switching back keeps every row and record the secured stack held.
        assert after.trades_rows >= secured_count.trades_rows >= before.trades_rows
        assert after.trades_records >= secured_count.trades_records >= before.trades_records


def principal_password(secured: SecuredRuntime, principal: credentials.Principal) -> str:
    return secured.passwords[principal.key]
