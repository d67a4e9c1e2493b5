"""Prometheus rules: valid syntax, the labels and annotations every alert needs, and a promtool unit test for
every alert that fires on a failing series and stays quiet on a healthy one."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
MONITORING = ROOT / "monitoring" / "prometheus"
RULE_FILES = sorted((MONITORING / "rules").glob("*.yml"))
TEST_FILES = sorted((MONITORING / "tests").glob("*.test.yml"))
RUNBOOKS = ROOT / "docs" / "troubleshooting.md"
PROMTOOL = shutil.which("promtool") or "promtool is installed by `make install` (Debian package prometheus)"

COMPONENTS = {"kafka", "cassandra", "producer", "spark_stream", "airflow", "monitoring", "reconciliation"}
"""The `component` label of every alert; Alertmanager's inhibition matches on it (and on instance)."""
RUNBOOK_BASE = "{{ $externalLabels.runbook_base_url }}"
"""How every runbook_url starts: Prometheus' external label runbook_base_url (RUNBOOK_BASE_URL)."""


def alert_rules() -> list[tuple[Path, dict[str, Any]]]:
    return [
        (path, rule)
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


def each_alert() -> list[Any]:
    return [pytest.param(path, rule, id=rule["alert"]) for path, rule in alert_rules()]


def rule_tests() -> list[tuple[Path, dict[str, Any]]]:
    """(test file, one alert_rule_test entry) for every promtool alert test."""
    return [
        (path, case)
        for path in TEST_FILES
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    ]


def test_promtool_accepts_every_rule_file() -> None:
    command = [PROMTOOL, "check", "rules", *map(str, RULE_FILES)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)

    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rule_unit_tests_pass() -> None:
    command = [PROMTOOL, "test", "rules", *map(str, TEST_FILES)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)

    assert TEST_FILES and result.returncode == 0, result.stdout + result.stderr


def test_every_promtool_rule_test_file_is_one_the_rule_tests_run() -> None:
    everywhere = set(MONITORING.parent.rglob("*.test.yml"))

    assert everywhere == set(TEST_FILES)


@pytest.mark.parametrize(("path", "rule"), each_alert())
def test_alert_has_for_severity_component_summary_description_and_runbook(
    path: Path, rule: dict[str, Any]
) -> None:
    name = rule["alert"]
    assert re.fullmatch(r"(?:[A-Z][a-z0-9]*)+", name), name
    assert "for" in rule, name
    assert rule["labels"]["severity"] in {"warning", "critical"}, name
    assert rule["labels"]["component"] in COMPONENTS, name
    assert "{{" not in rule["annotations"]["summary"], name
    assert "{{" in rule["annotations"]["description"], f"{name}: the description names labels or $value"
    assert rule["annotations"]["runbook_url"] == f"{RUNBOOK_BASE}/troubleshooting.md#{name.lower()}"
    assert f"\n## {name}\n" in RUNBOOKS.read_text(), f"{name}: no section in {RUNBOOKS.name}"


@pytest.mark.parametrize(("path", "rule"), each_alert())
def test_every_alert_has_a_promtool_test_that_fires_and_one_that_stays_quiet(
    path: Path, rule: dict[str, Any]
) -> None:
    name = rule["alert"]
    cases = [
        case
        for test_file, case in rule_tests()
        if case["alertname"] == name
        and f"../rules/{path.name}" in yaml.safe_load(test_file.read_text())["rule_files"]
    ]

    assert [case for case in cases if case.get("exp_alerts")], f"{name}: no promtool test where it fires"
    assert [case for case in cases if case.get("exp_alerts") == []], f"{name}: no test where it is quiet"


def test_every_scrape_job_has_a_per_target_down_alert_that_also_fires_without_targets() -> None:
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    exprs = [str(rule["expr"]) for _, rule in alert_rules()]

    missing = [
        job for job in sorted(jobs) if f'up{{job="{job}"}} == 0 or absent(up{{job="{job}"}})' not in exprs
    ]
    assert missing == []


def test_the_runbook_base_is_an_external_label_that_alerts_do_not_carry_to_alertmanager() -> None:
    for path in (MONITORING / "prometheus.yml", ROOT / "deploy" / "docker" / "prometheus.yml"):
        config = yaml.safe_load(path.read_text())
        assert "runbook_base_url" in config["global"]["external_labels"], path
        relabel = config["alerting"]["alert_relabel_configs"]
        assert {"action": "labeldrop", "regex": "runbook_base_url"} in relabel, path
