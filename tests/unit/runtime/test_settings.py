"""Runtime settings: defaults, validation errors that name the setting, port collisions."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import stack.__main__ as stack_cli
from services.configuration import ConfigError
from stack import lag, reset_checkpoint
from stack.settings import RuntimeSettings, load_settings


def test_defaults_keep_alertmanager_and_kafka_controller_on_different_ports() -> None:
    settings = load_settings()

    assert settings.alertmanager_port == 9093
    assert settings.kafka_controller_port not in (9093, 9094)


def test_a_non_numeric_port_is_rejected_with_the_setting_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_PORT", "ninety")

    with pytest.raises(ConfigError, match="KAFKA_PORT"):
        load_settings()


def test_a_port_out_of_range_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASSANDRA_PORT", "70000")

    with pytest.raises(ConfigError, match="CASSANDRA_PORT"):
        load_settings()


def test_two_services_on_one_port_are_rejected_naming_both(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERTMANAGER_PORT", "9092")

    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "9092" in str(caught.value)
    assert "kafka" in str(caught.value) and "alertmanager" in str(caught.value)


def test_a_malformed_heap_size_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASSANDRA_HEAP", "lots")

    with pytest.raises(ConfigError, match="CASSANDRA_HEAP"):
        load_settings()


def test_the_config_error_never_contains_the_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINNHUB_API_KEY", "sekrit-key-123")
    monkeypatch.setenv("KAFKA_PORT", "-1")

    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "sekrit-key-123" not in str(caught.value)


@pytest.mark.parametrize(
    ("main", "program"),
    [
        (lambda: stack_cli.main(["status"]), "stack"),
        (lambda: lag.main([]), "kafka-lag"),
        (lambda: reset_checkpoint.main(["--from", "latest"]), "reset-checkpoint"),
    ],
)
def test_a_bad_setting_stops_a_runtime_command_with_one_line_and_status_2(
    main: Callable[[], int], program: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAFKA_PORT", "ninety")

    with pytest.raises(SystemExit) as exited:
        main()

    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{program}: invalid configuration: KAFKA_PORT: ")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    "webhook",
    [
        "hooks.slack.com/services/T/B/X",
        "https:///services/T/B/X",
        "ftp://hooks.example/x",
        "https://h:99999/x",
    ],
)
def test_a_malformed_slack_webhook_stops_start_up_naming_the_variable_not_its_value(
    webhook: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", webhook)

    with pytest.raises(SystemExit) as exited:
        stack_cli.main(["status"])

    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("stack: invalid configuration: SLACK_WEBHOOK_URL: must be an http(s) URL")
    assert err.count("\n") == 1 and webhook not in err


def test_a_runbook_base_that_is_not_a_url_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNBOOK_BASE_URL", "docs/")

    with pytest.raises(ConfigError, match="RUNBOOK_BASE_URL"):
        load_settings()


def test_a_value_given_in_code_is_shown_unless_it_is_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    # load_settings() passes the running topology as a value; an error about it must still name it.
    monkeypatch.setenv("KAFKA_REPLICATION_FACTOR", "1")
    with pytest.raises(ConfigError) as refused:
        RuntimeSettings.load(topology="cluster")
    assert "TOPOLOGY=cluster" in str(refused.value) and "***" not in str(refused.value)
