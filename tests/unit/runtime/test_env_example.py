"""`.env.example` is the documented copy of the runtime's defaults: every value in it is the default the code
uses, and every setting of the runtime is in it."""

from __future__ import annotations

import pytest
from dotenv import dotenv_values

from services import layout
from services.kafka_options import DEFAULT_BOOTSTRAP_SERVERS
from stack.settings import RuntimeSettings

EXAMPLE = layout.ROOT / ".env.example"
NOT_IN_EXAMPLE = {"var_dir"}
"""Left out on purpose: VAR_DIR moves all runtime state; its default (var/) is what everyone wants."""
READ_ELSEWHERE = {
    # Read by the producer and the Spark job when run by hand; the runtime gives them its own broker.
    "KAFKA_BOOTSTRAP_SERVERS": DEFAULT_BOOTSTRAP_SERVERS,
}


@pytest.fixture
def example() -> dict[str, str]:
    return {name: value or "" for name, value in dotenv_values(EXAMPLE).items()}


def test_every_value_in_env_example_is_the_default(
    example: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in RuntimeSettings.environment_variables().values():
        monkeypatch.delenv(variable, raising=False)

    from_example = RuntimeSettings(_env_file=EXAMPLE)  # type: ignore[call-arg]

    assert from_example == RuntimeSettings()
    for variable, default in READ_ELSEWHERE.items():
        assert example[variable] == default, variable


def test_every_variable_in_env_example_is_read_and_every_setting_is_in_it(example: dict[str, str]) -> None:
    runtime = {
        variable
        for field, variable in RuntimeSettings.environment_variables().items()
        if field not in NOT_IN_EXAMPLE
    }

    assert set(example) - runtime == set(READ_ELSEWHERE)
    assert runtime - set(example) == set()
