"""The metric-name extraction the live monitoring tests rely on."""

from __future__ import annotations

import pytest

from testkit.promql import metric_names, panel_queries, rules


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('up{job="producer"} == 0 or absent(up{job="producer"})', {"up"}),
        (
            "sum by (instance) (increase(kafka_delivery_failures_total[5m])) > 0",
            {"kafka_delivery_failures_total"},
        ),
        (
            "(sum(rate(a_total[5m])) or vector(0)) / clamp_min(sum(rate(b_total[5m])) + 1e-9, 1e-9)",
            {"a_total", "b_total"},
        ),
        ("x unless x offset 1m and on () (count(up offset 1m == 1) > 0)", {"x", "up"}),
        ("histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m])))", {"h_bucket"}),
        ("max_over_time(airflow:dagrun_failures:new1m[15m]) > 0", {"airflow:dagrun_failures:new1m"}),
        ('{__name__="odd_name", job="x"}', {"odd_name"}),
    ],
)
def test_metric_names_are_the_selected_series_only(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_every_rule_and_panel_reads_some_metric() -> None:
    exprs = [str(rule["expr"]) for rule in rules()] + [expr for _, expr in panel_queries()]

    assert len(exprs) > 40
    assert all(metric_names(expr) for expr in exprs if expr != "vector(0)")
