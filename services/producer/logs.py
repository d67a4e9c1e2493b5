"""Structured logs for the producer and the simulator: one key=value line per event, never a secret.

`log_event(logger, "ws_connected", url=...)` writes `ts=... level=info logger=... event=ws_connected url=...`.
A filter on the handler replaces every registered secret with *** as a last line of defence.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable
from typing import Any

REDACTED = "***"


def logfmt_value(value: Any) -> str:
    """A value as logfmt: bare when simple, else double-quoted with escapes."""
    text = str(value)
    if text and all(c.isalnum() or c in "-_.:/@+,*?=[]" for c in text):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one event as `event=<event> key=value ...`."""
    if logger.isEnabledFor(level):
        pairs = " ".join(f"{key}={logfmt_value(value)}" for key, value in fields.items())
        logger.log(level, f"event={event} {pairs}".rstrip())


class KeyValueFormatter(logging.Formatter):
    """Prefix each line with UTC time, level and logger; fold an exception into the same line."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        line = (
            f"ts={stamp}.{int(record.msecs):03d}Z level={record.levelname.lower()} "
            f"logger={record.name} {record.getMessage()}"
        )
        if record.exc_info and record.exc_info[1] is not None:
            line += exception_fields(record.exc_info[1])
        return line


def exception_fields(exc: BaseException) -> str:
    """` error_type=... error=...` for a log line (no traceback: one line per event)."""
    return f" error_type={type(exc).__name__} error={logfmt_value(str(exc)[:500])}"


class SecretRedactingFilter(logging.Filter):
    """Replace every registered secret in a record's message and exception text with ***."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = [secret for secret in secrets if secret]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            message += exception_fields(record.exc_info[1])
            record.exc_info, record.exc_text = None, None
        record.msg, record.args = redact(message, self.secrets), None
        return True


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every non-empty secret replaced by ***."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def configure_logging(level: str, secrets: Iterable[str] = ()) -> None:
    """Send key=value lines to stderr at `level`, with secrets redacted; replaces earlier handlers."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    handler.addFilter(SecretRedactingFilter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # websocket-client's trace dumps the request line, which carries the token: keep it quiet.
    logging.getLogger("websocket").setLevel(max(logging.WARNING, root.level))
