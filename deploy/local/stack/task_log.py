"""`make logs-spark`'s formatter (`... | python -m stack.task_log`): Airflow task-log JSON lines from stdin
as readable `time level event` lines; any other line passes unchanged.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def format_log_line(line: str) -> str:
    """An Airflow task-log JSON line as `time level event`; any other line unchanged."""
    try:
        entry: Any = json.loads(line)
    except ValueError:
        return line.rstrip("\n")
    if not isinstance(entry, dict) or "event" not in entry:
        return line.rstrip("\n")
    return f"{entry.get('timestamp', '')} {str(entry.get('level', '')).upper():<7} {entry['event']}"


def main() -> int:
    try:
        for line in sys.stdin:
            print(format_log_line(line), flush=True)
    except (KeyboardInterrupt, BrokenPipeError):
        # Ctrl-C on `make logs-spark`, or a reader such as `head` that has seen enough: a normal end.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - nothing more is written; the flush at exit must not fail
    return 0


if __name__ == "__main__":
    sys.exit(main())
