from __future__ import annotations

from finnhub_pipeline import ttl_policy
from finnhub_pipeline.ttl_policy import SampledCell, TtlFinding
from services import contracts

POLICY = contracts.TRADES_TTL_SECONDS
NOW = 1_800_000_000.0


def cell(key: str, ttl: int | None, written_s_ago: float | None) -> SampledCell:
    return SampledCell(key, ttl, None if written_s_ago is None else int((NOW - written_s_ago) * 1_000_000))


def test_policy_is_the_contract_retention() -> None:
    assert ttl_policy.POLICY_SECONDS == {"trades_v2": 30 * 86400, "trade_aggregates": 90 * 86400}


def test_rows_with_the_policy_ttl_pass() -> None:
    cells = [cell("a", POLICY - 10, 10), cell("b", 5, POLICY - 5)]
    assert ttl_policy.row_findings("trades_v2", cells, POLICY, NOW) == []


def test_a_row_written_without_ttl_is_a_violation() -> None:
    assert ttl_policy.row_findings("trades_v2", [cell("(symbol=X)", None, 60)], POLICY, NOW) == [
        TtlFinding("trades_v2", "no_ttl", "row (symbol=X) has no TTL: it would never expire")
    ]


def test_a_ttl_beyond_policy_is_a_violation() -> None:
    findings = ttl_policy.row_findings("trades_v2", [cell("k", POLICY + 100, 1)], POLICY, NOW)
    assert [f.rule for f in findings] == ["ttl_beyond_policy"]


def test_a_row_readable_after_its_retention_is_a_violation() -> None:
    findings = ttl_policy.row_findings("trades_v2", [cell("k", None, POLICY + 3600)], POLICY, NOW)
    assert [f.rule for f in findings] == ["no_ttl", "outlived_retention"]


def test_clock_slack_keeps_a_row_at_the_edge_of_its_retention_legal() -> None:
    assert ttl_policy.row_findings("trades_v2", [cell("k", 1, POLICY + 60)], POLICY, NOW) == []


def test_an_unset_probe_cell_is_not_judged() -> None:
    assert ttl_policy.row_findings("trades_v2", [cell("k", None, None)], POLICY, NOW) == []


def test_default_ttl_must_equal_policy() -> None:
    assert ttl_policy.table_findings("trades_v2", POLICY, POLICY) == []
    assert [f.rule for f in ttl_policy.table_findings("trades_v2", 0, POLICY)] == ["default_ttl"]


def test_summarize_counts_per_table_and_rule() -> None:
    findings = [
        TtlFinding("a", "no_ttl", ""),
        TtlFinding("a", "no_ttl", ""),
        TtlFinding("b", "default_ttl", ""),
    ]
    assert ttl_policy.summarize(findings) == {"a": {"no_ttl": 2}, "b": {"default_ttl": 1}}
