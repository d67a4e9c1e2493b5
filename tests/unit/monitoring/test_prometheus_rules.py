"""Prometheus rules: valid syntax, the style's required labels and annotations, and promtool unit tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

MONITORING = Path(__file__).resolve().parents[3] / "monitoring" / "prometheus"
RULE_FILES = sorted((MONITORING / "rules").glob("*.yml"))
PROMTOOL = shutil.which("promtool") or "promtool is installed by `make install` (Debian package prometheus)"


def alert_rules() -> list[dict]:
    return [
        rule
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


def test_promtool_accepts_every_rule_file() -> None:
    command = [PROMTOOL, "check", "rules", *map(str, RULE_FILES)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)

    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rule_unit_tests_pass() -> None:
    tests = sorted((MONITORING / "tests").glob("*.test.yml"))
    command = [PROMTOOL, "test", "rules", *map(str, tests)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)

    assert tests and result.returncode == 0, result.stdout + result.stderr


def test_every_promtool_rule_test_file_is_one_the_rule_tests_run() -> None:
    everywhere = set(MONITORING.parent.rglob("*.test.yml"))

    assert everywhere == set((MONITORING / "tests").glob("*.test.yml"))


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_alert_has_for_severity_summary_description_and_runbook(rule: dict) -> None:
    assert rule["alert"][0].isupper() and "_" not in rule["alert"]
    assert "for" in rule
    assert rule["labels"]["severity"] in {"warning", "critical"}
    assert "{{" not in rule["annotations"]["summary"]
    assert rule["annotations"]["description"]
    anchor = rule["annotations"]["runbook_url"].split("#")[1]
    runbook = (MONITORING.parents[1] / "docs" / "troubleshooting.md").read_text()
    assert f"## {rule['alert']}\n" in runbook and anchor == rule["alert"].lower()


def test_every_scrape_job_has_an_absent_alert() -> None:
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    exprs = " ".join(rule["expr"] for rule in alert_rules())

    missing = [job for job in jobs if f'absent(up{{job="{job}"}} == 1)' not in exprs]
    assert missing == []
