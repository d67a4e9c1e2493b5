"""docs/architecture.md's ports table is a copy of the runtime's port defaults: every port setting is in it,
with its default."""

from __future__ import annotations

import re

from services import layout
from stack.settings import RuntimeSettings

DOC = layout.ROOT / "docs" / "architecture.md"
VARIABLE = re.compile(r"`([A-Z][A-Z0-9_]+)`")


def documented_ports() -> dict[str, int]:
    """Variable -> port, from the rows of the table under `## Ports` (`port / port | VAR / VAR`)."""
    section = DOC.read_text().split("## Ports", 1)[1].split("\n## ", 1)[0]
    found: dict[str, int] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[1][:1].isdigit():
            continue
        ports = [int(port) for port in cells[1].split(" / ")]
        variables = VARIABLE.findall(cells[2])
        assert len(variables) in (0, len(ports)), line
        found.update(zip(variables, ports, strict=False))
    return found


def test_the_ports_table_lists_every_port_setting_with_its_default() -> None:
    defaults = RuntimeSettings.model_construct()
    variables = RuntimeSettings.environment_variables()
    expected = {
        variables[field]: getattr(defaults, field)
        for field in RuntimeSettings.model_fields
        if field.endswith("_port")
    }

    assert documented_ports() == expected
