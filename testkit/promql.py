"""The metric names a PromQL expression reads, and the expressions of the rule files and the dashboard: what
the live tests query Prometheus for (tests/integration/runtime/test_monitoring.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import yaml

from services import layout

RULE_FILES = sorted((layout.ROOT / "monitoring" / "prometheus" / "rules").glob("*.yml"))
DASHBOARDS = sorted((layout.ROOT / "monitoring" / "grafana" / "dashboards").glob("*.json"))

_KEYWORDS = {"and", "or", "unless", "offset", "bool", "inf", "nan"}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NUMBER = re.compile(r"(?<![\w:])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?:ms|[smhdwy])?(?![\w:])")
_IDENTIFIER = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """Every metric name `expr` selects (functions, keywords, labels, numbers and durations left out)."""
    names = set(re.findall(r'__name__\s*=\s*"([^"]+)"', expr))
    text = _LABEL_LIST.sub(" ", _RANGE.sub(" ", _MATCHERS.sub(" ", _STRING.sub('""', expr))))
    text = _NUMBER.sub(" ", text)
    for found in _IDENTIFIER.finditer(text):
        if found.group(0) in _KEYWORDS or text[found.end() :].lstrip().startswith("("):
            continue  # a keyword, or a function or aggregation called with (...)
        names.add(found.group(0))
    return names


def rules() -> Iterator[dict[str, Any]]:
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            yield from group["rules"]


def panel_queries() -> Iterator[tuple[str, str]]:
    """(panel title, PromQL) of every dashboard panel target."""

    def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for item in items:
            yield item
            yield from panels(item.get("panels", []))

    for path in DASHBOARDS:
        for panel in panels(json.loads(path.read_text())["panels"]):
            for target in panel.get("targets", []):
                if target.get("expr"):
                    yield str(panel.get("title", "?")), str(target["expr"])
