"""docs/api-reference.md's tables are copies of services/contracts.py: held against it field by field."""

from __future__ import annotations

import re
from pathlib import Path

from services import contracts, layout

API_REFERENCE = layout.ROOT / "docs" / "api-reference.md"
DOC_TYPES = {
    "int": "int",
    "bigint": "int",
    "double": "float",
    "string": "string",
    "array<string>": "list of strings",
}


def _table_after(heading: str, path: Path = API_REFERENCE) -> list[list[str]]:
    """The rows (cells without backticks) of the first table after the line starting with `heading`."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith(heading))
    rows: list[list[str]] = []
    for line in lines[start + 1 :]:
        if line.startswith("|"):
            rows.append([cell.strip().strip("`") for cell in line.strip("|").split("|")])
        elif rows:
            break
    return [row for row in rows[1:] if not re.fullmatch(r"-+", row[0])]


def test_the_documented_trade_record_is_the_contract_field_for_field() -> None:
    documented = [(name, kind) for name, kind, _ in _table_after("## Kafka records")]
    assert documented == [(field.name, DOC_TYPES[field.type]) for field in contracts.TRADE_RECORD]


def test_the_documented_dead_letter_record_is_the_contract() -> None:
    assert [row[0] for row in _table_after("## Dead letters")] == list(contracts.DEAD_LETTER_FIELDS)
