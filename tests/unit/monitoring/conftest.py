"""Monitoring unit tests build runtime settings from the test's own values, never a developer's .env."""

from __future__ import annotations

import pytest

from stack.settings import RuntimeSettings


@pytest.fixture(autouse=True)
def no_dotenv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(RuntimeSettings.model_config, "env_file", None)
    for variable in ("SLACK_WEBHOOK_URL", "RUNBOOK_BASE_URL", "ALERT_LOG_PORT"):
        monkeypatch.delenv(variable, raising=False)
