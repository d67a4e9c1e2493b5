"""`make logs-spark`'s formatter: Airflow's JSON task-log lines as `time level event`, others unchanged."""

from __future__ import annotations

import json

from stack.task_log import format_log_line


def test_airflow_json_log_lines_are_shown_as_time_level_event() -> None:
    line = json.dumps(
        {"timestamp": "2026-11-24T19:40:11Z", "level": "info", "event": "batch_written", "x": 1}
    )
    assert format_log_line(line + "\n") == "2026-11-24T19:40:11Z INFO    batch_written"
    assert format_log_line("plain text\n") == "plain text"
    assert format_log_line("[1, 2]\n") == "[1, 2]"
