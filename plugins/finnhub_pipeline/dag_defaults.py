"""Defaults every pipeline DAG shares (owner, retries, start date, tags, one run at a time), so the DAG
files stay pure wiring: `with DAG(dag_id=..., schedule=..., **dag_kwargs(doc_md=__doc__, ...))`.

Nothing here does I/O: DAG files import it at parse time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

OWNER = "market-data"
START_DATE = datetime(2026, 1, 1, tzinfo=UTC)
TAGS = ("finnhub-pipeline",)
MAINTENANCE_TAG = "maintenance"
MAINTENANCE_DAG_IDS = ("cassandra_backup", "cassandra_compaction", "ttl_audit", "reconciliation")
"""The scheduled maintenance DAGs (tagged MAINTENANCE_TAG): `make up` unpauses them, so they run on their
schedules without anyone opening the UI."""


def default_args(**overrides: Any) -> dict[str, Any]:
    """owner, retries=2 with a 5-minute delay, no e-mail; `overrides` win."""
    return {
        "owner": OWNER,
        "retries": 2,
        "retry_delay": timedelta(minutes=5),
        "depends_on_past": False,
        **overrides,
    }


def tags(*extra: str) -> list[str]:
    return [*TAGS, *extra]


def dag_kwargs(
    *, doc_md: str | None, extra_tags: Sequence[str], **default_arg_overrides: Any
) -> dict[str, Any]:
    """The `DAG(...)` arguments every pipeline DAG shares; the DAG file adds its `dag_id` and `schedule`.

    From START_DATE without catchup, at most one active run, `doc_md` (the DAG file's `__doc__`), the
    pipeline tag plus `extra_tags`, and `default_args(**default_arg_overrides)`.
    """
    return {
        "start_date": START_DATE,
        "catchup": False,
        "max_active_runs": 1,
        "doc_md": doc_md,
        "tags": tags(*extra_tags),
        "default_args": default_args(**default_arg_overrides),
    }
