"""Cassandra as the tests and benchmarks use it: the pipeline's schema in a throw-away keyspace. Sessions come
from the shared builder (`services.cassandra_session`), like every other client's.
"""

from __future__ import annotations

from typing import Any

from finnhub_pipeline import migration_plan
from services.layout import ROOT

MIGRATIONS = ROOT / "sql" / "cql"


def create_keyspace(session: Any, keyspace: str, replication_factor: int = 1) -> None:
    """The pipeline's schema (sql/cql, in order) in `keyspace`."""
    for migration in migration_plan.discover(MIGRATIONS):
        session.execute(migration_plan.render(migration, replication_factor, keyspace), timeout=60)
