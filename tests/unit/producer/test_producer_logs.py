"""Structured logs: one key=value line per event, and secrets never printed."""

from __future__ import annotations

import logging

from services.producer.logs import KeyValueFormatter, SecretRedactingFilter, log_event, logfmt_value

SECRET = "c0ffee1234secretkey"


def render(record: logging.LogRecord, secrets: list[str]) -> str:
    SecretRedactingFilter(secrets).filter(record)
    return KeyValueFormatter().format(record)


def make_record(message: str, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, None) if exc is not None else None
    return logging.LogRecord("producer", logging.ERROR, __file__, 1, message, None, exc_info)


def test_values_with_blanks_or_quotes_are_quoted() -> None:
    assert logfmt_value("AAPL") == "AAPL"
    assert logfmt_value("IC MARKETS:1") == '"IC MARKETS:1"'
    assert logfmt_value('say "hi"\n') == '"say \\"hi\\"\\n"'


def test_an_event_is_one_line_of_key_value_pairs() -> None:
    line = render(make_record('event=ws_connected symbols="AAPL,MSFT"'), [])
    assert "\n" not in line
    assert line.startswith("ts=") and " level=error logger=producer event=ws_connected" in line


def test_a_secret_in_the_message_is_replaced() -> None:
    line = render(make_record(f"event=x url=wss://ws.finnhub.io?token={SECRET}"), [SECRET])
    assert SECRET not in line and "token=***" in line


def test_a_secret_in_an_exception_is_replaced_and_the_line_stays_single() -> None:
    line = render(make_record("event=ws_error", OSError(f"cannot open /?token={SECRET}")), [SECRET])
    assert SECRET not in line and "error_type=OSError" in line and "\n" not in line


def test_log_event_formats_fields(caplog) -> None:  # type: ignore[no-untyped-def]
    logger = logging.getLogger("producer.test")
    with caplog.at_level(logging.INFO, logger="producer.test"):
        log_event(logger, "ws_reconnect_wait", seconds="1.25", reason="server closed")
    assert caplog.records[0].getMessage() == 'event=ws_reconnect_wait seconds=1.25 reason="server closed"'
