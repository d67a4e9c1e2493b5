"""Defaults every pipeline DAG shares (owner, retries, start date), so the DAG files stay pure wiring.

Nothing here does I/O: DAG files import it at parse time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

OWNER = "market-data"
START_DATE = datetime(2026, 1, 1, tzinfo=UTC)
TAGS = ("finnhub-pipeline",)


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
