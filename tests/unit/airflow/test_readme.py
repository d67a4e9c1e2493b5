"""The plugin README's Variables table is a copy of `finnhub_pipeline.variables`: held against it here."""

from __future__ import annotations

import re
from pathlib import Path

import finnhub_pipeline
from finnhub_pipeline import variables
from services import layout

README = Path(finnhub_pipeline.__file__).with_name("README.md")
ROW = re.compile(r"^\| `(?P<key>[a-z0-9_]+)` \| (?P<default>[^|]*) \|", re.MULTILINE)


def documented(variable: variables.Variable) -> str:
    """How the table starts the default's cell: `value` (a path relative to the checkout), or empty."""
    if not variable.default:
        return "empty"
    default = Path(variable.default)
    if default.is_absolute() and default.is_relative_to(layout.ROOT):
        return f"`{default.relative_to(layout.ROOT)}`"
    return f"`{variable.default}`"


def test_the_variables_table_lists_every_variable_once_with_its_default() -> None:
    rows = {match["key"]: match["default"] for match in ROW.finditer(README.read_text(encoding="utf-8"))}
    assert sorted(rows) == sorted(variable.key for variable in variables.ALL)
    for variable in variables.ALL:
        assert rows[variable.key].startswith(documented(variable)), (variable.key, rows[variable.key])
