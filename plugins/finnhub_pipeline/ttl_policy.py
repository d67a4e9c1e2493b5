"""Retention policy of the pipeline's tables and the findings of a TTL audit (pure, unit-tested).

`ttl_sampling.py` reads each table's `default_time_to_live` and samples rows' `TTL()`/`WRITETIME()`;
`findings` turns those into violations, each naming the table, the rule and the row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from services import contracts

POLICY_SECONDS: Mapping[str, int] = {
    contracts.TRADES_TABLE: contracts.TRADES_TTL_SECONDS,
    contracts.AGGREGATES_TABLE: contracts.AGGREGATES_TTL_SECONDS,
}
"""table -> the TTL every row must carry (the seed README's 30 and 90 days)."""

PROBE_COLUMNS: Mapping[str, str] = {contracts.TRADES_TABLE: "price", contracts.AGGREGATES_TABLE: "close"}
"""table -> a column every row sets, whose TTL() and WRITETIME() stand for the row's."""

CLOCK_SLACK_S = 300
"""Rows are judged expired only this long after their TTL ran out: clocks of writers and nodes differ."""


@dataclass(frozen=True)
class SampledCell:
    """One sampled row: its primary key (for the report), `TTL(col)` and `WRITETIME(col)` of one column."""

    key: str
    ttl_s: int | None  # remaining seconds; None when the cell was written without a TTL
    writetime_us: int | None  # microseconds since the epoch


@dataclass(frozen=True)
class TtlFinding:
    table: str
    rule: str  # "default_ttl", "no_ttl", "ttl_beyond_policy", "outlived_retention"
    detail: str


def table_findings(table: str, default_ttl: int, policy_s: int) -> list[TtlFinding]:
    if default_ttl != policy_s:
        return [
            TtlFinding(
                table, "default_ttl", f"default_time_to_live is {default_ttl} s, policy is {policy_s} s"
            )
        ]
    return []


def row_findings(table: str, cells: Iterable[SampledCell], policy_s: int, now_s: float) -> list[TtlFinding]:
    """Rows without TTL, with a TTL beyond policy, or still readable after their retention ran out."""
    findings: list[TtlFinding] = []
    for cell in cells:
        if cell.writetime_us is None:
            continue  # the probed cell is unset in this row: nothing was written, so no TTL to judge
        if cell.ttl_s is None:
            findings.append(TtlFinding(table, "no_ttl", f"row {cell.key} has no TTL: it would never expire"))
        elif cell.ttl_s > policy_s:
            findings.append(
                TtlFinding(
                    table,
                    "ttl_beyond_policy",
                    f"row {cell.key} expires in {cell.ttl_s} s, beyond the {policy_s} s policy",
                )
            )
        age_s = now_s - cell.writetime_us / 1_000_000
        if age_s > policy_s + CLOCK_SLACK_S:
            findings.append(
                TtlFinding(
                    table,
                    "outlived_retention",
                    f"row {cell.key} was written {age_s:.0f} s ago, beyond the {policy_s} s "
                    "retention, and is still readable",
                )
            )
    return findings


def summarize(findings: Iterable[TtlFinding]) -> dict[str, dict[str, int]]:
    """table -> rule -> count, for metrics and the XCom summary."""
    counts: dict[str, dict[str, int]] = {}
    for finding in findings:
        per_table = counts.setdefault(finding.table, {})
        per_table[finding.rule] = per_table.get(finding.rule, 0) + 1
    return counts
